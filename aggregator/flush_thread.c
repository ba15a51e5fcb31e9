/* A driver's delivery on a thread of its own (aggregator/flush_thread.h). */
#include "aggregator/flush_thread.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/config.h"
#include "common/mem.h"

struct flush_thread {
    flush_done_fn *done;
    void *arg;
    int efd; /* the thread's "finished" to the loop */
    struct event *ev;
    pthread_t thread;
    bool busy; /* the loop's own: set at start, cleared when joined */
    /* The job and its result: written by the thread before it signals efd, read by the
     * loop after pthread_join(), so never at the same time. */
    const struct acct_driver *driver;
    const struct acct_batch *batches;
    size_t n;
    int rc;
    char err[STARLING_ERR_LEN];
};

static void *run(void *arg)
{
    struct flush_thread *t = arg;
    t->err[0] = '\0';
    t->rc = t->driver->deliver(t->driver->ctx, NULL, t->batches, t->n, t->err);
    uint64_t one = 1;
    ssize_t w = write(t->efd, &one, sizeof(one));
    (void)w; /* an eventfd counter cannot overflow from one write per flush */
    return NULL;
}

/* Joins the finished thread and hands its result to done. */
static void finish(struct flush_thread *t)
{
    pthread_join(t->thread, NULL);
    t->busy = false;
    t->done(t->arg, t->rc, t->err);
}

static void on_finished(evutil_socket_t fd, short what, void *arg)
{
    struct flush_thread *t = arg;
    uint64_t count;
    (void)what;
    if (read(fd, &count, sizeof(count)) == (ssize_t)sizeof(count) && t->busy)
        finish(t);
}

struct flush_thread *flush_thread_new(struct event_base *base, flush_done_fn *done, void *arg)
{
    struct flush_thread *t = xcalloc(1, sizeof(*t));
    t->done = done;
    t->arg = arg;
    t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->efd < 0) {
        free(t);
        return NULL;
    }
    t->ev = xcheck(event_new(base, t->efd, EV_READ | EV_PERSIST, on_finished, t));
    event_add(t->ev, NULL);
    return t;
}

bool flush_thread_start(struct flush_thread *t, const struct acct_driver *driver,
                        const struct acct_batch *batches, size_t n)
{
    if (t->busy)
        return false;
    t->driver = driver;
    t->batches = batches;
    t->n = n;
    if (pthread_create(&t->thread, NULL, run, t) != 0)
        return false;
    t->busy = true;
    return true;
}

bool flush_thread_busy(const struct flush_thread *t)
{
    return t != NULL && t->busy;
}

void flush_thread_wait(struct flush_thread *t)
{
    if (t == NULL || !t->busy)
        return;
    uint64_t count;
    /* The thread signals before it returns: reading the eventfd (blocking on it) is not
     * needed, joining waits for the end. */
    finish(t);
    ssize_t r = read(t->efd, &count, sizeof(count)); /* its signal, consumed */
    (void)r;
}

void flush_thread_free(struct flush_thread *t)
{
    if (t == NULL)
        return;
    flush_thread_wait(t);
    event_free(t->ev);
    close(t->efd);
    free(t);
}
