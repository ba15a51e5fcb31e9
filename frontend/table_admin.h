#ifndef STARLING_TABLE_ADMIN_H
#define STARLING_TABLE_ADMIN_H

/* `starling table ...` (argv[1] is "table"): changes a shared table in Redis and exits with
 * the status to return (0 done, 1 Redis failed, 2 a bad command line or config). */
int table_admin_main(int argc, char **argv);

#endif
