/*
 * lincheck: the command-line face of the checker.
 *
 *   lincheck [--model kv|register] [--format auto|jsonl|edn|jepsen-log]
 *            [--absent-reads-empty] [--timeout SECONDS] [--threads N]
 *            [--json] [--html FILE] FILE
 *
 * Exit codes (DESIGN.md): 0 linearizable, 1 not linearizable, 2 bad usage or
 * bad input ("file:line: what" on stderr), 3 unknown (the time budget ran
 * out). Options (getopt_long: "--timeout 3" or "--timeout=3") may come
 * before or after FILE; "-" reads stdin.
 */
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker/checker.h"

static const char usage[] =
    "usage: lincheck [options] FILE      (FILE \"-\" reads stdin)\n"
    "Checks that a history of key-value operations is linearizable.\n"
    "\n"
    "  --model kv|register    kv: get/put/delete/cas/append per key (the\n"
    "                         default); register: one key, read/write/cas\n"
    "                         (the default for Jepsen logs)\n"
    "  --format auto|jsonl|edn|jepsen-log\n"
    "                         the input format (default: detected)\n"
    "  --absent-reads-empty   a key never written reads as \"\" (the empty\n"
    "                         string and absent are one value)\n"
    "  --timeout SECONDS      time budget; past it the verdict is unknown\n"
    "  --max-steps N          model steps each key may take; past them the\n"
    "                         verdict is unknown (the same on any machine)\n"
    "  --memory MB            the search's memory (default: the smaller of\n"
    "                         4096 and a quarter of RAM); past it, unknown\n"
    "  --threads N            worker threads (default: one per core)\n"
    "  --json                 print the verdict as one JSON object\n"
    "  --html FILE            also write an HTML report to FILE\n"
    "  --help                 print this and exit\n"
    "\n"
    "Exit status: 0 linearizable, 1 not linearizable, 2 bad usage or bad\n"
    "input, 3 unknown (time, step or memory budget exceeded).\n";

struct args
{
    const char *file;
    const char *html;
    bool json;
    enum checker_format format;
    struct checker_options opts;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lincheck: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    fputs(usage, stderr);
    va_end(ap);
    return COMMON_EXIT_USAGE;
}

enum {
    OPT_JSON = 256,
    OPT_ABSENT_EMPTY,
    OPT_MODEL,
    OPT_FORMAT,
    OPT_TIMEOUT,
    OPT_MAX_STEPS,
    OPT_MEMORY,
    OPT_THREADS,
    OPT_HTML,
};

/* One option's value into @a: 0 to go on, or the exit code. */
static int parse_option(int ch, const char *v, struct args *a)
{
    switch (ch) {
        case OPT_JSON:
            a->json = true;
            return 0;
        case OPT_ABSENT_EMPTY:
            a->opts.absent_reads_empty = true;
            return 0;
        case OPT_MODEL:
            if (checker_model_parse(v, &a->opts.model) != 0) {
                return usage_error("--model needs kv or register");
            }
            a->opts.model_set = true;
            return 0;
        case OPT_FORMAT:
            if (checker_format_parse(v, &a->format) != 0) {
                return usage_error(
                    "--format needs auto, jsonl, edn or jepsen-log");
            }
            return 0;
        case OPT_TIMEOUT: {
            double s = 0;
            if (common_parse_double(v, 0, 1e9, &s) != 0 || s <= 0) {
                return usage_error(
                    "--timeout needs a positive number of seconds");
            }
            a->opts.timeout_s = s;
            return 0;
        }
        case OPT_MAX_STEPS: {
            uint64_t n = 0;
            if (common_parse_u64(v, 1, UINT64_MAX, &n) != 0) {
                return usage_error("--max-steps needs a positive number");
            }
            a->opts.max_steps = n;
            return 0;
        }
        case OPT_MEMORY: {
            uint64_t mb = 0;
            if (common_parse_u64(v, 1, (uint64_t)1 << 24, &mb) != 0) {
                return usage_error(
                    "--memory needs megabytes, from 1 to 16777216");
            }
            a->opts.memory_bytes = (size_t)mb << 20;
            return 0;
        }
        case OPT_THREADS: {
            uint64_t n = 0;
            if (common_parse_u64(v, 1, 1024, &n) != 0) {
                return usage_error("--threads needs a number from 1 to 1024");
            }
            a->opts.threads = (unsigned)n;
            return 0;
        }
        case OPT_HTML:
            if (*v == '\0') {
                return usage_error("--html needs a FILE");
            }
            a->html = v;
            return 0;
        default:
            return usage_error("unknown option");
    }
}

/* 0 to go on, -1 after --help, or the exit code. Options are read by
 * getopt_long: "--timeout 3" or "--timeout=3", before or after FILE. */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, OPT_JSON},
        {"absent-reads-empty", no_argument, NULL, OPT_ABSENT_EMPTY},
        {"model", required_argument, NULL, OPT_MODEL},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-steps", required_argument, NULL, OPT_MAX_STEPS},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"html", required_argument, NULL, OPT_HTML},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* the messages below say more */
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int rc = 0;
        switch (ch) {
            case 'h':
                fputs(usage, stdout);
                return -1;
            case ':':
                return usage_error("%s needs a value", argv[optind - 1]);
            case '?':
                return usage_error("unknown option \"%s\"", argv[optind - 1]);
            default:
                rc = parse_option(ch, optarg, a);
                break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    for (int k = optind; k < argc; k++) {
        if (a->file != NULL) {
            return usage_error("more than one FILE (\"%s\")", argv[k]);
        }
        a->file = argv[k];
    }
    if (a->file == NULL) {
        return usage_error("no FILE given");
    }
    return 0;
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* Tables the search outgrows are freed after their copy is made: with
     * glibc's sliding mmap threshold the freed ones stay in the heap, and
     * the process held about twice --memory. A fixed threshold puts every
     * large block in its own mapping, returned when freed. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    struct args a;
    memset(&a, 0, sizeof a);
    checker_options_init(&a.opts);
    int rv = parse_args(argc, argv, &a);
    if (rv != 0) {
        return rv < 0 ? 0 : rv;
    }
    struct checker_history *h = checker_history_new();
    if (h == NULL) {
        fputs("lincheck: out of memory\n", stderr);
        return COMMON_EXIT_USAGE;
    }
    int code = COMMON_EXIT_USAGE;
    struct checker_result *r = NULL;
    if (checker_history_read_file(h, a.file, a.format) != 0 ||
        checker_check(h, &a.opts, &r) != 0) {
        /* "file:line: what" alone on the line, as compilers do, so that
         * editors and scripts find the place. */
        const char *msg = checker_history_error(h);
        fprintf(stderr, "%s\n", msg[0] ? msg : "lincheck: out of memory");
        goto out;
    }
    if (a.json) {
        checker_result_write_json(stdout, h, r);
    } else {
        checker_result_write_text(stdout, h, r);
    }
    if (a.html != NULL && checker_report_html_save(a.html, h, r) != 0) {
        fprintf(stderr, "lincheck: cannot write %s: %s\n", a.html,
                strerror(errno));
        goto out;
    }
    if (fflush(stdout) != 0) {
        goto out;
    }
    code = r->verdict == CHECKER_LINEARIZABLE       ? COMMON_EXIT_OK
           : r->verdict == CHECKER_NOT_LINEARIZABLE ? COMMON_EXIT_FAILED
                                                    : COMMON_EXIT_UNKNOWN;

out:
    checker_result_free(r);
    checker_history_free(h);
    return code;
}
