# The Redis Lua scripts, compiled into the binaries (which so never read the source tree).
#
# Every lua/<name>.lua is one script, lua_<name> in C: the folder is the list, kept nowhere
# else. Each is assembled here, at configure time, from its file:
#
#   --! loaded-by: frontend | aggregator
#       which connections load it with SCRIPT LOAD (storage/redis.c, storage/sync.c); the
#       line is dropped.
#   --! include <part>
#       replaced by lua/lib/<part>.lua: functions more than one script needs.
#   @NAME@
#       replaced by "<value> --[[NAME]]", for every integer #define NAME of storage/keys.h,
#       the one owner of the layout C and Lua share (values may be expressions of other
#       defines of keys.h or common/torrent.h). The comment stays in the body, so a test
#       can check the value against C (tests/unit/test_scripts.c). Not inside strings.
#
# and named by the SHA1 of the assembled body: the name Redis gives it, so the binary
# knows what to EVALSHA without asking (and checks SCRIPT LOAD's reply against it).
#
# Writes ${CMAKE_BINARY_DIR}/generated/lua_scripts.[ch] (the registry, included through
# storage/scripts.h) and generated/lua/<name>.lua (the assembled bodies, to read, and for
# scripts/aggbench.sh to name the scripts in Redis's slowlog by their SHA1).

set(LUA_DIR "${CMAKE_SOURCE_DIR}/lua")
set(LUA_GENERATED "${CMAKE_BINARY_DIR}/generated")

# Writes content to path unless it already holds exactly that (so nothing rebuilds).
function(write_if_changed path content)
  if(EXISTS "${path}")
    file(READ "${path}" old)
    if(old STREQUAL content)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${content}")
endfunction()

# Sets C_<NAME> for every "#define NAME <integer expression>" of header, in the calling
# scope, and appends the names to the list out_names. An expression may hold decimal
# numbers, + - * / ( ) and names defined before it; any other define (a string, sizeof,
# a suffixed literal, an include guard) is skipped.
function(c_integer_defines header out_names)
  set(names "${${out_names}}")
  file(STRINGS "${header}" lines REGEX "^#define +[A-Z][A-Z0-9_]* +[^ ]")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE " */[*/].*$" "" line "${line}")
    if(NOT line MATCHES "^#define +([A-Z][A-Z0-9_]*) +(.+)$")
      continue()
    endif()
    set(name "${CMAKE_MATCH_1}")
    string(REGEX MATCHALL "[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[^A-Za-z0-9_ ]" tokens
      "${CMAKE_MATCH_2}")
    set(arith "")
    set(ok TRUE)
    foreach(token IN LISTS tokens)
      if(token MATCHES "^[A-Za-z_]" AND DEFINED C_${token})
        string(APPEND arith "(${C_${token}})")
      elseif(token MATCHES "^([0-9]+|[-+*/()])$")
        string(APPEND arith "${token}")
      else()
        set(ok FALSE)
        break()
      endif()
    endforeach()
    if(ok)
      math(EXPR value "${arith}")
      set(C_${name} "${value}")
      set(C_${name} "${value}" PARENT_SCOPE)
      list(APPEND names "${name}")
    endif()
  endforeach()
  set(${out_names} "${names}" PARENT_SCOPE)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${header}")
endfunction()

# Assembles lua/<name>.lua (see the top of this file) into out_body; out_loader gets
# "frontend" or "aggregator". Uses LUA_CONSTANTS and their C_<NAME> values.
function(lua_assemble src out_body out_loader)
  file(READ "${src}" body)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${src}")
  if(NOT body MATCHES "\n--! loaded-by: (frontend|aggregator)\n")
    message(FATAL_ERROR "${src}: no line \"--! loaded-by: frontend\" (or aggregator)")
  endif()
  set(loader "${CMAKE_MATCH_1}")
  string(REGEX REPLACE "\n--! loaded-by: [a-z]+\n" "\n" body "${body}")

  string(REGEX MATCHALL "--! include [a-z_]+\n" includes "${body}")
  foreach(include IN LISTS includes)
    string(REGEX REPLACE "--! include ([a-z_]+)\n" "\\1" part "${include}")
    set(part_src "${LUA_DIR}/lib/${part}.lua")
    if(NOT EXISTS "${part_src}")
      message(FATAL_ERROR "${src}: includes ${part}, but there is no ${part_src}")
    endif()
    file(READ "${part_src}" part_body)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${part_src}")
    string(REPLACE "${include}" "${part_body}" body "${body}")
  endforeach()
  if(body MATCHES "--!")
    message(FATAL_ERROR "${src}: a \"--!\" line that is neither loaded-by nor include")
  endif()

  string(REGEX MATCHALL "@[A-Za-z0-9_]*@" uses "${body}")
  list(REMOVE_DUPLICATES uses)
  foreach(use IN LISTS uses)
    string(REGEX REPLACE "^@(.*)@$" "\\1" name "${use}")
    if(NOT name IN_LIST LUA_CONSTANTS)
      message(FATAL_ERROR "${src}: ${use} is no integer #define of storage/keys.h")
    endif()
    string(REPLACE "${use}" "${C_${name}} --[[${name}]]" body "${body}")
  endforeach()

  set(${out_body} "${body}" PARENT_SCOPE)
  set(${out_loader} "${loader}" PARENT_SCOPE)
endfunction()

# The constants the scripts may use: storage/keys.h's, which may be built on torrent.h's.
set(torrent_names "")
c_integer_defines("${CMAKE_SOURCE_DIR}/common/torrent.h" torrent_names)
set(LUA_CONSTANTS "")
c_integer_defines("${CMAKE_SOURCE_DIR}/storage/keys.h" LUA_CONSTANTS)

file(GLOB lua_sources CONFIGURE_DEPENDS "${LUA_DIR}/*.lua")
list(SORT lua_sources)
list(LENGTH lua_sources lua_count)
set(lua_h "/* generated from the scripts in lua/ by lua/embed.cmake: do not edit */
/* Included by storage/scripts.h. */
#define LUA_SCRIPT_COUNT ${lua_count}
")
set(lua_c "/* generated from the scripts in lua/ by lua/embed.cmake: do not edit */
#include \"storage/scripts.h\"
")
set(lua_list "")
foreach(src IN LISTS lua_sources)
  get_filename_component(name "${src}" NAME_WE)
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "${src}: a script's name must be a C identifier in lowercase")
  endif()
  lua_assemble("${src}" body loader)
  write_if_changed("${LUA_GENERATED}/lua/${name}.lua" "${body}")
  string(SHA1 sha "${body}")
  string(LENGTH "${body}" len)
  string(HEX "${body}" hex)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(TOUPPER "${loader}" loader)
  string(APPEND lua_h "extern const struct lua_script lua_${name};\n")
  string(APPEND lua_c "
static const char ${name}_body[] = {${bytes} 0};
const struct lua_script lua_${name} = {\"${name}\", ${name}_body, ${len}, \"${sha}\", LUA_${loader}};
")
  string(APPEND lua_list "&lua_${name}, ")
endforeach()
string(APPEND lua_c "
const struct lua_script *const lua_scripts[LUA_SCRIPT_COUNT] = {${lua_list}};
")
write_if_changed("${LUA_GENERATED}/lua_scripts.h" "${lua_h}")
write_if_changed("${LUA_GENERATED}/lua_scripts.c" "${lua_c}")
set(LUA_SCRIPTS_C "${LUA_GENERATED}/lua_scripts.c")
