/*
 * libpq doing what a pipelining pool does: `connections` connections in pipeline mode, each
 * keeping `in_flight` queries `SELECT $1::int` (a random int) in flight, with a Sync after EVERY
 * query, so that each query is its own implicit transaction, as pool.query() is. Single thread,
 * nonblocking, poll() over all the sockets. Built and run by bench/lib/libpq.ts.
 *
 *   libpq-pipeline <extended|prepared> <connections> <in_flight> <warmup_ms> <duration_ms>
 *
 * - extended: PQsendQueryParams, an unnamed statement per query (Parse/Bind/Describe/Execute);
 * - prepared: each connection prepares once (PQsendPrepare), then PQsendQueryPrepared
 *   (Bind/Describe/Execute).
 *
 * Writes: a pool writes the queries of one event-loop turn at once; here, the queries queued for
 * a connection in one poll round go out together. With libpq 17 or newer, by PQsendPipelineSync
 * (a Sync without a flush) and one PQflush per round. Before 17 libpq has only PQpipelineSync,
 * which flushes: one send() per query, each of which, on loopback, wakes the backend for a
 * segment of its own; so the socket is corked (TCP_CORK) while a round's queries are queued and
 * uncorked after its PQflush, and the round leaves as one segment as a pool's write would (the
 * send() per query remains, in the client's CPU). Where corking fails (a Unix-domain socket),
 * every query is a segment of its own. The JSON's `sync` tells which of the three it was.
 *
 * Connection parameters come from the environment (PGHOST, PGPASSWORD, PGAPPNAME, ...), never
 * argv. Runs `warmup_ms` of load, then measures `duration_ms`, then stops sending and drains
 * what is in flight. Prints one JSON object on stdout:
 *   window: queries that were sent and answered inside the window, their p50/p99 latency (ms,
 *           from the send call to the result), this process's CPU (getrusage) in the window;
 *   total:  every query answered over the run (warm-up and drain included) and every error.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#define SQL "SELECT $1::int"
#define STATEMENT "lifeguard_bench"

struct conn {
	PGconn *pg;
	int in_flight;	   /* queries sent whose Sync has not come back */
	double *started;   /* ring of the send times of the queries in flight, ms */
	int head, count;   /* oldest entry, entries */
	int want_write;	   /* PQflush left data unsent */
	int corked;		   /* TCP_CORK is set (libpq < 17 only) */
};

struct window {
	double start, end; /* ms */
	long answered;
	double *latencies;
	long size, capacity;
};

static long total_answered, total_errors;
static int cork_failed;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int random_int(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (int) (rng % 1000000);
}

static void die(const char *what, PGconn *pg)
{
	fprintf(stderr, "libpq-pipeline: %s: %s\n", what, pg ? PQerrorMessage(pg) : strerror(errno));
	exit(1);
}

static double cpu_micros(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 +
		   ru.ru_stime.tv_usec;
}

/* Connects in blocking mode, prepares if asked (inside the pipeline), then goes nonblocking. */
static void open_conn(struct conn *c, int prepared, int in_flight)
{
	PGresult *res;
	c->pg = PQconnectdb("");
	if (PQstatus(c->pg) != CONNECTION_OK) die("connect", c->pg);
	if (!PQenterPipelineMode(c->pg)) die("PQenterPipelineMode", c->pg);
	if (prepared) {
		if (!PQsendPrepare(c->pg, STATEMENT, SQL, 1, NULL)) die("PQsendPrepare", c->pg);
		if (!PQpipelineSync(c->pg)) die("PQpipelineSync", c->pg);
		res = PQgetResult(c->pg);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) die("prepare", c->pg);
		PQclear(res);
		if ((res = PQgetResult(c->pg)) != NULL) die("prepare: more than one result", c->pg);
		res = PQgetResult(c->pg);
		if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) die("prepare: no sync", c->pg);
		PQclear(res);
	}
	if (PQsetnonblocking(c->pg, 1) != 0) die("PQsetnonblocking", c->pg);
	c->started = calloc(in_flight, sizeof(double));
	if (!c->started) die("calloc", NULL);
}

/* libpq < 17: cork the socket while a round's queries are queued, uncork after the flush. */
static void cork(struct conn *c, int on)
{
#if !defined(LIBPQ_HAS_SEND_PIPELINE_SYNC) && defined(TCP_CORK)
	if (c->corked == on || cork_failed) return;
	if (setsockopt(PQsocket(c->pg), IPPROTO_TCP, TCP_CORK, &on, sizeof on) != 0) cork_failed = 1;
	else c->corked = on;
#else
	(void) c, (void) on;
	cork_failed = 1;
#endif
}

/* Queues one query and its Sync (libpq sends them on PQflush, or as its buffer fills). */
static void send_query(struct conn *c, int prepared, int in_flight)
{
	char value[16];
	const char *values[1] = {value};
	int sent;
	snprintf(value, sizeof value, "%d", random_int());
	sent = prepared ? PQsendQueryPrepared(c->pg, STATEMENT, 1, values, NULL, NULL, 0)
					: PQsendQueryParams(c->pg, SQL, 1, NULL, values, NULL, NULL, 0);
	if (!sent) die("send", c->pg);
#ifdef LIBPQ_HAS_SEND_PIPELINE_SYNC
	/* libpq 17+: a Sync without the flush PQpipelineSync does on every call. */
	if (!PQsendPipelineSync(c->pg)) die("PQsendPipelineSync", c->pg);
#else
	if (!PQpipelineSync(c->pg)) die("PQpipelineSync", c->pg);
#endif
	c->started[(c->head + c->count) % in_flight] = now_ms();
	c->count++;
	c->in_flight++;
}

static void record(struct window *w, double started, double ended)
{
	if (started < w->start || ended > w->end) return;
	w->answered++;
	if (w->size == w->capacity) {
		w->capacity = w->capacity ? w->capacity * 2 : 65536;
		w->latencies = realloc(w->latencies, w->capacity * sizeof(double));
		if (!w->latencies) die("realloc", NULL);
	}
	w->latencies[w->size++] = ended - started;
}

/* Reads every complete result: one per query (its rows, or its error), then its Sync. */
static void read_results(struct conn *c, struct window *w, int in_flight)
{
	int nulls = 0;
	if (!PQconsumeInput(c->pg)) die("PQconsumeInput", c->pg);
	while (c->in_flight > 0 && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		ExecStatusType status;
		if (res == NULL) {
			/* The end of one query's results; never more than one in a row. */
			if (++nulls > 1) break;
			continue;
		}
		nulls = 0;
		status = PQresultStatus(res);
		if (status == PGRES_PIPELINE_SYNC) {
			c->in_flight--;
		} else if (c->count > 0) {
			double started = c->started[c->head];
			c->head = (c->head + 1) % in_flight;
			c->count--;
			if (status == PGRES_TUPLES_OK) {
				total_answered++;
				record(w, started, now_ms());
			} else {
				if (total_errors++ == 0) fprintf(stderr, "libpq-pipeline: %s", PQresultErrorMessage(res));
			}
		}
		PQclear(res);
	}
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return (x > y) - (x < y);
}

static double quantile(struct window *w, double q)
{
	long i = (long) (q * w->size);
	if (w->size == 0) return -1;
	return w->latencies[i < w->size ? i : w->size - 1];
}

/* One poll() round: queue and flush what is due, wait, read. Returns 0 once all is drained. */
static int step(struct conn *conns, struct pollfd *fds, int n, int prepared, int in_flight,
				int sending, struct window *w)
{
	int busy = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = &conns[i];
		if (sending && in_flight - c->in_flight > 1) cork(c, 1); /* one query: one segment anyway */
		while (sending && c->in_flight < in_flight) send_query(c, prepared, in_flight);
		int flushed = PQflush(c->pg);
		if (flushed < 0) die("PQflush", c->pg);
		cork(c, 0);
		c->want_write = flushed == 1;
		fds[i].fd = PQsocket(c->pg);
		fds[i].events = POLLIN | (c->want_write ? POLLOUT : 0);
		busy |= c->in_flight > 0;
	}
	if (!sending && !busy) return 0;
	if (poll(fds, n, 100) < 0 && errno != EINTR) die("poll", NULL);
	for (int i = 0; i < n; i++) {
		if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) read_results(&conns[i], w, in_flight);
	}
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s <extended|prepared> <connections> <in_flight> <warmup_ms> <duration_ms>\n",
				argv[0]);
		return 2;
	}
	int prepared = strcmp(argv[1], "prepared") == 0;
	int n = atoi(argv[2]), in_flight = atoi(argv[3]);
	double warmup = atof(argv[4]), duration = atof(argv[5]);
	if (!prepared && strcmp(argv[1], "extended") != 0) return 2;
	if (n <= 0 || in_flight <= 0 || warmup < 0 || duration <= 0) return 2;

	struct conn *conns = calloc(n, sizeof *conns);
	struct pollfd *fds = calloc(n, sizeof *fds);
	struct window w = {0};
	if (!conns || !fds) die("calloc", NULL);
	rng ^= (uint64_t) now_ms();
	for (int i = 0; i < n; i++) open_conn(&conns[i], prepared, in_flight);

	double warm_until = now_ms() + warmup;
	w.start = w.end = 1e300; /* nothing counts before the window */
	double cpu_start = 0, cpu_end = 0;
	int phase = 0; /* 0 warm-up, 1 window, 2 drain */
	for (;;) {
		double t = now_ms();
		if (phase == 0 && t >= warm_until) {
			phase = 1;
			w.start = t;
			w.end = t + duration;
			cpu_start = cpu_micros();
		}
		if (phase == 1 && t >= w.end) {
			phase = 2;
			w.end = t;
			cpu_end = cpu_micros();
		}
		if (!step(conns, fds, n, prepared, in_flight, phase < 2, &w)) break;
	}
	for (int i = 0; i < n; i++) PQfinish(conns[i].pg);

	qsort(w.latencies, w.size, sizeof(double), by_value);
	printf("{\"mode\":\"%s\",\"connections\":%d,\"inFlight\":%d,\"windowMillis\":%.3f,"
		   "\"answered\":%ld,\"p50\":%.4f,\"p99\":%.4f,\"cpuMicros\":%.0f,"
		   "\"totalAnswered\":%ld,\"errors\":%ld,\"sync\":\"%s\"}\n",
		   argv[1], n, in_flight, w.end - w.start, w.answered, quantile(&w, 0.5), quantile(&w, 0.99),
		   cpu_end - cpu_start, total_answered, total_errors,
#ifdef LIBPQ_HAS_SEND_PIPELINE_SYNC
		   "PQsendPipelineSync"
#else
		   cork_failed ? "PQpipelineSync" : "PQpipelineSync+TCP_CORK"
#endif
	);
	return 0;
}
