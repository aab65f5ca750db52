/*
 * The HTML report: one self-contained page (inline CSS and script, no
 * network) in the spirit of porcupine's visualization. For the chosen key
 * each process is a lane and each operation a bar from its invoke to its
 * completion; ops whose outcome is unknown run to the right edge, dashed.
 * Time is drawn by rank (every distinct instant one step) so that short ops
 * stay visible next to long ones. Each placed op carries its position in
 * the linearization; for a failure the longest prefix found is drawn green,
 * the ops that could not be placed after it red, and the text report sits
 * above the chart. Hovering a bar shows the op, its lines and times.
 *
 * The page embeds the ops as JSON (strings escaped so that no "<" reaches
 * the script element) and draws the SVG in the browser.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>lincheck report</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}\n"
    "h1{font-size:18px;margin:0 0 8px}\n"
    ".lin{color:#1a7f37}.not{color:#c62828}.unk{color:#9a6700}\n"
    "pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:320px}\n"
    "#controls{margin:8px 0}#controls>*{margin-right:12px}\n"
    "#view{display:flex;border:1px solid #ddd}\n"
    "#lanes{flex:none;width:90px;border-right:1px solid #ddd}\n"
    "#chart{overflow:auto;flex:1}\n"
    "svg text{font:11px monospace;pointer-events:none}\n"
    "rect.op{stroke:#555;stroke-width:1}\n"
    "rect.placed{fill:#cfe3ff}rect.prefix{fill:#b7e4c7}\n"
    "rect.unplaced{fill:#ffb3b3;stroke:#c62828;stroke-width:2}\n"
    "rect.unknown{fill:#eee;stroke-dasharray:4 3}\n"
    "rect.noeffect{fill:#f4f4f4;stroke:#aaa}\n"
    "rect.unreached{fill:#fff;stroke:#888}\n"
    "rect.op:hover{stroke:#000;stroke-width:2}\n"
    ".legend span{display:inline-block;width:14px;height:10px;"
    "border:1px solid #555;margin:0 4px 0 10px}\n"
    "</style>\n</head>\n<body>\n";

static const char page_script[] =
    "<script>\n"
    "'use strict';\n"
    "const D = JSON.parse(document.getElementById('data').textContent);\n"
    "const sel = document.getElementById('key');\n"
    "const zoom = document.getElementById('zoom');\n"
    "const byKey = D.keys.map(() => []);\n"
    "D.ops.forEach((o, i) => byKey[o[0]].push(i));\n"
    "D.keys.forEach((k, i) => {\n"
    "  const opt = document.createElement('option');\n"
    "  opt.value = i;\n"
    "  opt.textContent = (k === null ? '(register)' : JSON.stringify(k)) +\n"
    "    ' \\u2014 ' + byKey[i].length + ' ops' +\n"
    "    (i === D.failKey ? ' (not linearizable)' : '');\n"
    "  sel.appendChild(opt);\n"
    "});\n"
    "sel.value = D.failKey === null ? 0 : D.failKey;\n"
    "function esc(s) {\n"
    "  return String(s).replace(/[&<>\"]/g, c => ({'&': '&amp;', '<': "
    "'&lt;',\n"
    "    '>': '&gt;', '\"': '&quot;'}[c]));\n"
    "}\n"
    "function draw() {\n"
    "  const ids = byKey[+sel.value] || [];\n"
    "  const times = new Set();\n"
    "  ids.forEach(i => { const o = D.ops[i]; times.add(o[3]);\n"
    "    if (o[4] !== null) times.add(o[4]); });\n"
    "  const sorted = Array.from(times).sort((a, b) => a - b);\n"
    "  const rank = new Map(sorted.map((t, r) => [t, r]));\n"
    "  const procs = Array.from(new Set(ids.map(i => D.ops[i][1])))\n"
    "    .sort((a, b) => a - b);\n"
    "  const lane = new Map(procs.map((p, r) => [p, r]));\n"
    "  const step = +zoom.value, left = 10, laneH = 34, top = 8;\n"
    "  const end = sorted.length + 1;\n"
    "  const width = left + (end + 1) * step + 20;\n"
    "  const height = top + procs.length * laneH + 10;\n"
    "  let s = '<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"' + width +\n"
    "    '\" height=\"' + height + '\">';\n"
    "  let lab = '<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"90\" "
    "height=\"' +\n"
    "    height + '\">';\n"
    "  procs.forEach((p, r) => {\n"
    "    const y = top + r * laneH;\n"
    "    s += '<line x1=\"0\" x2=\"' + width + '\" y1=\"' +\n"
    "      (y + laneH - 4) + '\" y2=\"' + (y + laneH - 4) +\n"
    "      '\" stroke=\"#eee\"/>';\n"
    "    lab += '<text x=\"4\" y=\"' + (y + 19) + '\">process ' + esc(p) +\n"
    "      '</text>';\n"
    "  });\n"
    "  document.getElementById('lanes').innerHTML = lab + '</svg>';\n"
    "  ids.forEach(i => {\n"
    "    const o = D.ops[i];\n"
    "    const x0 = left + rank.get(o[3]) * step;\n"
    "    const x1 = left + (o[4] === null ? end : rank.get(o[4])) * step;\n"
    "    const w = Math.max(x1 - x0, 6);\n"
    "    const y = top + lane.get(o[1]) * laneH;\n"
    "    const cls = ['placed', 'prefix', 'unplaced', 'unknown', "
    "'noeffect', 'unreached'][o[6]];\n"
    "    const label = (o[5] > 0 ? '#' + o[5] + ' ' : '') + o[2];\n"
    "    s += '<g><title>' + esc(o[7]) + '</title><rect class=\"op ' + cls +\n"
    "      '\" x=\"' + x0 + '\" y=\"' + (y + 4) + '\" width=\"' + w +\n"
    "      '\" height=\"' + (laneH - 12) + '\" rx=\"3\"/>';\n"
    "    const room = Math.floor((w - 6) / 6.6);\n"
    "    if (room > 2) {\n"
    "      const t = label.length > room ? label.slice(0, room - 1) + "
    "'\\u2026' : label;\n"
    "      s += '<text x=\"' + (x0 + 3) + '\" y=\"' + (y + 19) + '\">' +\n"
    "        esc(t) + '</text>';\n"
    "    }\n"
    "    s += '</g>';\n"
    "  });\n"
    "  s += '</svg>';\n"
    "  const chart = document.getElementById('chart');\n"
    "  chart.innerHTML = s;\n"
    "  /* Bring the first op that could not be placed into view. */\n"
    "  const bad = ids.find(i => D.ops[i][6] === 2);\n"
    "  if (bad !== undefined) {\n"
    "    chart.scrollLeft = left + rank.get(D.ops[bad][3]) * step - 400;\n"
    "  }\n"
    "}\n"
    "sel.addEventListener('change', draw);\n"
    "zoom.addEventListener('input', draw);\n"
    "draw();\n"
    "</script>\n</body>\n</html>\n";

void checker_html_text_write(FILE *f, const char *s, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        switch (s[k]) {
            case '<':
                fputs("&lt;", f);
                break;
            case '>':
                fputs("&gt;", f);
                break;
            case '&':
                fputs("&amp;", f);
                break;
            case '"':
                fputs("&quot;", f);
                break;
            case '\'':
                fputs("&#39;", f);
                break;
            default:
                fputc(s[k], f);
        }
    }
}

/* How an op is drawn: 0 placed, 1 in the failing prefix, 2 could not be
 * placed, 3 outcome unknown and not placed, 4 no effect (dropped), 5 not
 * reached (after the failure, or in a key left undecided). */
static int op_class(const struct checker_result *r,
                    size_t i,
                    const struct checker_op *o,
                    bool in_failed_key)
{
    for (size_t k = 0; k < r->unplaced_len; k++) {
        if (r->unplaced[k] == i) {
            return 2;
        }
    }
    bool placed = r->position != NULL && r->position[i] > 0;
    if (placed) {
        return in_failed_key ? 1 : 0;
    }
    if (o->outcome == CHECKER_FAIL && !o->mismatch) {
        return 4;
    }
    if (o->f == CHECKER_GET && o->outcome != CHECKER_OK) {
        return 4;
    }
    return o->outcome == CHECKER_INFO ? 3 : 5;
}

static void write_data(FILE *f,
                       const struct checker_history *h,
                       const struct checker_result *r)
{
    /* Keys are numbered in order of first appearance, as partitions are. */
    size_t ids = h->strings.count + 2;
    uint32_t *key_index = malloc(ids * sizeof *key_index);
    size_t keys = 0;
    if (key_index == NULL) {
        fputs("{\"keys\":[],\"ops\":[],\"failKey\":null}", f);
        return;
    }
    memset(key_index, 0xff, ids * sizeof *key_index);
    fputs("{\"keys\":[", f);
    for (size_t i = 0; i < h->ops_len; i++) {
        uint32_t key = h->ops[i].key;
        if (key_index[key] == UINT32_MAX) {
            key_index[key] = (uint32_t)keys;
            fputs(keys++ > 0 ? "," : "", f);
            report_json_string(f, strtab_get(&h->strings, key));
        }
    }
    long fail_key = -1;
    fputs("],\"ops\":[", f);
    for (size_t i = 0; i < h->ops_len; i++) {
        struct checker_op o;
        checker_history_op(h, i, &o);
        uint32_t k = key_index[h->ops[i].key];
        bool in_failed =
            r->verdict == CHECKER_NOT_LINEARIZABLE && o.has_key == r->has_key &&
            o.key.len == r->key_len &&
            (r->key_len == 0 || memcmp(o.key.ptr, r->key, r->key_len) == 0);
        if (in_failed) {
            fail_key = (long)k;
        }
        char what[400];
        char tip[700];
        report_describe_op(&o, what, sizeof what);
        int n = snprintf(tip, sizeof tip,
                         "process %" PRId64 ": %s\ninvoke: line %" PRIu64
                         ", time %" PRId64,
                         o.process, what, o.call_line, o.call_time);
        if (o.completed && n > 0 && (size_t)n < sizeof tip) {
            n += snprintf(tip + n, sizeof tip - (size_t)n,
                          "\ncompletion: line %" PRIu64 ", time %" PRId64,
                          o.return_line, o.return_time);
        }
        const struct checker_str *after =
            in_failed && r->position != NULL && r->position[i] > 0
                ? report_state_after(r, r->position[i] - 1)
                : NULL;
        if (after != NULL && n > 0 && (size_t)n < sizeof tip) {
            char q[160];
            report_quote(*after, q, sizeof q);
            snprintf(tip + n, sizeof tip - (size_t)n, "\nthen the key: %s",
                     after->ptr == NULL ? "absent" : q);
        }
        bool unknown = !o.completed || o.outcome == CHECKER_INFO;
        fprintf(f, "%s[%" PRIu32 ",%" PRId64 ",", i > 0 ? "," : "", k,
                o.process);
        report_json_string(f, (struct checker_str){what, strlen(what)});
        fprintf(f, ",%" PRId64 ",", o.call_time);
        if (unknown) {
            fputs("null", f);
        } else {
            fprintf(f, "%" PRId64, o.return_time);
        }
        fprintf(f, ",%" PRIu32 ",%d,", r->position != NULL ? r->position[i] : 0,
                op_class(r, i, &o, in_failed));
        report_json_string(f, (struct checker_str){tip, strlen(tip)});
        fputc(']', f);
    }
    fputs("],\"failKey\":", f);
    if (fail_key >= 0) {
        fprintf(f, "%ld", fail_key);
    } else {
        fputs("null", f);
    }
    fputc('}', f);
    free(key_index);
}

int checker_report_html_write(FILE *f,
                              const struct checker_history *h,
                              const struct checker_result *r)
{
    static const char *const css[] = {"lin", "not", "", "unk"};
    fputs(page_head, f);
    fprintf(f, "<h1 class=\"%s\">lincheck: ", css[r->verdict]);
    checker_html_text_write(f, history_name(h), strlen(history_name(h)));
    fprintf(f, " is %s</h1>\n<pre>",
            r->verdict == CHECKER_LINEARIZABLE       ? "linearizable"
            : r->verdict == CHECKER_NOT_LINEARIZABLE ? "not linearizable"
                                                     : "of unknown status");
    /* The text report, captured and escaped. */
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    if (mem != NULL) {
        checker_result_write_text(mem, h, r);
        fclose(mem);
        checker_html_text_write(f, text, text_len);
        free(text);
    }
    fputs(
        "</pre>\n<div id=\"controls\"><label>key <select id=\"key\">"
        "</select></label><label>zoom <input id=\"zoom\" type=\"range\" "
        "min=\"4\" max=\"240\" value=\"90\"></label></div>\n"
        "<div class=\"legend\">"
        "<span style=\"background:#cfe3ff\"></span>placed (#n: its place "
        "in the linearization)"
        "<span style=\"background:#b7e4c7\"></span>in the longest "
        "linearizable prefix"
        "<span style=\"background:#ffb3b3\"></span>could not be placed"
        "<span style=\"background:#eee;border-style:dashed\"></span>"
        "outcome unknown, not needed"
        "<span style=\"background:#f4f4f4\"></span>no effect"
        "<span style=\"background:#fff\"></span>not reached</div>\n"
        "<div id=\"view\"><div id=\"lanes\"></div><div id=\"chart\"></div>"
        "</div>\n"
        "<script type=\"application/json\" id=\"data\">",
        f);
    write_data(f, h, r);
    fputs("</script>\n", f);
    fputs(page_script, f);
    return ferror(f) ? COMMON_EIO : 0;
}

int checker_report_html_save(const char *path,
                             const struct checker_history *h,
                             const struct checker_result *r)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return COMMON_EIO;
    }
    int rv = checker_report_html_write(f, h, r);
    int saved = errno;
    if (fclose(f) != 0 && rv == 0) {
        rv = COMMON_EIO;
        saved = errno;
    }
    errno = saved;
    return rv;
}
