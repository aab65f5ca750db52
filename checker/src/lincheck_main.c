/*
 * lincheck: the command-line face of the checker.
 *
 *   lincheck [--model kv|register] [--format auto|jsonl|edn|jepsen-log]
 *            [--absent-reads-empty] [--timeout SECONDS] [--threads N]
 *            [--json] [--html FILE] FILE
 *
 * Exit codes (DESIGN.md): 0 linearizable, 1 not linearizable, 2 bad usage or
 * bad input ("file:line: what" on stderr), 3 unknown (the time budget ran
 * out). Options may come before or after FILE; "-" reads stdin.
 */
#include <errno.h>
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

/* The value of option @name: "--name=value" or the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (arg[n] == '=') {
        return arg + n + 1;
    }
    if (*i + 1 >= argc) {
        return NULL;
    }
    return argv[++*i];
}

static bool is_option(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

/* 0 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct args *a)
{
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (a->file != NULL) {
                return usage_error("more than one FILE (\"%s\")", arg);
            }
            a->file = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            return -1;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if (strcmp(arg, "--absent-reads-empty") == 0) {
            a->opts.absent_reads_empty = true;
        } else if (is_option(arg, "--model")) {
            const char *v = option_value(argc, argv, &i, "--model");
            if (v == NULL || checker_model_parse(v, &a->opts.model) != 0) {
                return usage_error("--model needs kv or register");
            }
            a->opts.model_set = true;
        } else if (is_option(arg, "--format")) {
            const char *v = option_value(argc, argv, &i, "--format");
            if (v == NULL || checker_format_parse(v, &a->format) != 0) {
                return usage_error(
                    "--format needs auto, jsonl, edn or jepsen-log");
            }
        } else if (is_option(arg, "--timeout")) {
            const char *v = option_value(argc, argv, &i, "--timeout");
            double s = 0;
            if (common_parse_double(v, 0, 1e9, &s) != 0 || s <= 0) {
                return usage_error(
                    "--timeout needs a positive number of seconds");
            }
            a->opts.timeout_s = s;
        } else if (is_option(arg, "--max-steps")) {
            const char *v = option_value(argc, argv, &i, "--max-steps");
            uint64_t n = 0;
            if (common_parse_u64(v, 1, UINT64_MAX, &n) != 0) {
                return usage_error("--max-steps needs a positive number");
            }
            a->opts.max_steps = n;
        } else if (is_option(arg, "--memory")) {
            const char *v = option_value(argc, argv, &i, "--memory");
            uint64_t mb = 0;
            if (common_parse_u64(v, 1, (uint64_t)1 << 24, &mb) != 0) {
                return usage_error(
                    "--memory needs megabytes, from 1 to 16777216");
            }
            a->opts.memory_bytes = (size_t)mb << 20;
        } else if (is_option(arg, "--threads")) {
            const char *v = option_value(argc, argv, &i, "--threads");
            uint64_t n = 0;
            if (common_parse_u64(v, 1, 1024, &n) != 0) {
                return usage_error(
                    "--threads needs a number from 1 to "
                    "1024");
            }
            a->opts.threads = (unsigned)n;
        } else if (is_option(arg, "--html")) {
            a->html = option_value(argc, argv, &i, "--html");
            if (a->html == NULL) {
                return usage_error("--html needs a FILE");
            }
        } else {
            return usage_error("unknown option \"%s\"", arg);
        }
    }
    if (a->file == NULL) {
        return usage_error("no FILE given");
    }
    return 0;
}

int main(int argc, char **argv)
{
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
