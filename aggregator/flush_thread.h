#ifndef STARLING_FLUSH_THREAD_H
#define STARLING_FLUSH_THREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "storage/acct.h"

/*
 * A driver's delivery off the event loop: the mysql driver's flush can take seconds (a
 * slow database: the whole of mysql.command_timeout per statement), during which the loop
 * must go on serving /metrics, renewing the lock and walking passes. One flush at a time,
 * on a thread of its own; done(arg, rc, err) runs on the loop when it ends. The driver's
 * deliver() must touch nothing the loop uses meanwhile (the mysql driver only talks to its
 * own connection, which the loop leaves alone while busy()).
 */
struct flush_thread;
struct event_base;

typedef void flush_done_fn(void *arg, int rc, const char *err);

struct flush_thread *flush_thread_new(struct event_base *base, flush_done_fn *done, void *arg);

/* Starts driver->deliver(driver->ctx, NULL, batches, n) on a thread. The batches must stay
 * valid until done. Returns false (nothing started) when one is running or the thread
 * cannot be made. */
bool flush_thread_start(struct flush_thread *t, const struct acct_driver *driver,
                        const struct acct_batch *batches, size_t n);

bool flush_thread_busy(const struct flush_thread *t);

/* Waits for the running flush, if any (its done runs here). For shutdown. */
void flush_thread_wait(struct flush_thread *t);

void flush_thread_free(struct flush_thread *t);

#endif
