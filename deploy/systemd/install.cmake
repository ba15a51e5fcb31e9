# Run by `cmake --install` (install(SCRIPT) in CMakeLists.txt): installs the systemd
# units of this folder with @BINDIR@ and @SYSCONFDIR@ filled in for the prefix given at
# install time (`--prefix`), not the one configured, so the units name the binaries and the
# config where they really went. STARLING_UNIT_SOURCE_DIR and STARLING_UNIT_BUILD_DIR are
# set by the install(CODE) before it.
foreach(unit starling.service starling@.service starling-aggregator.service)
  file(READ "${STARLING_UNIT_SOURCE_DIR}/${unit}" text)
  string(REPLACE "@BINDIR@" "${CMAKE_INSTALL_PREFIX}/bin" text "${text}")
  string(REPLACE "@SYSCONFDIR@" "${CMAKE_INSTALL_PREFIX}/etc" text "${text}")
  file(WRITE "${STARLING_UNIT_BUILD_DIR}/${unit}" "${text}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
    FILES "${STARLING_UNIT_BUILD_DIR}/${unit}")
endforeach()
