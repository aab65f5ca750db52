# The run report in a real browser: headless Chromium loads the report of
# a run and the test reads back the page as the browser built it.
#
#   cmake -DHARNESS=... -DSCENARIO=... -DARGS="--seed;67" -DEXPECT_RC=1
#         -DVERDICT=FAIL -DNODES=5 -DMATCH="regex;..." -DCHROMIUM=...
#         -DOUT=dir -P report_browser.cmake
#
# It runs the harness into OUT (exit code EXPECT_RC), then Chromium twice,
# each with a profile folder of its own in a fresh temporary folder:
# --dump-dom, whose page must be drawn to the end (body data-ready="1",
# set by the page's last line), have no script error (the page writes
# every error into #errors), say VERDICT in #verdict-word, have NODES rows
# in the cluster timeline (class node-row) and match each MATCH regular
# expression; and --screenshot, saved as OUT/report.png.
foreach(v HARNESS SCENARIO EXPECT_RC VERDICT NODES CHROMIUM OUT)
    if(NOT DEFINED ${v})
        message(FATAL_ERROR "report_browser.cmake: ${v} is not set")
    endif()
endforeach()

file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
execute_process(
    COMMAND ${HARNESS} ${SCENARIO} --no-status --quiet --out ${OUT} ${ARGS}
    OUTPUT_VARIABLE run_out
    ERROR_VARIABLE run_err
    RESULT_VARIABLE rc)
if(NOT rc EQUAL EXPECT_RC)
    message(FATAL_ERROR "the run exited ${rc}, expected ${EXPECT_RC}:\n"
        "${run_out}\n${run_err}")
endif()
if(NOT EXISTS ${OUT}/report.html)
    message(FATAL_ERROR "the run wrote no report.html:\n${run_out}")
endif()

execute_process(COMMAND mktemp -d OUTPUT_VARIABLE tmp
    OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "mktemp -d failed")
endif()
# --virtual-time-budget lets the page finish its work (it has no timers)
# before the DOM is dumped; the timeout bounds a browser that hangs.
set(browser ${CHROMIUM} --headless --no-sandbox --disable-gpu
    --no-first-run --disable-extensions --disable-dev-shm-usage
    --hide-scrollbars --virtual-time-budget=10000)
execute_process(
    COMMAND ${browser} --user-data-dir=${tmp}/dom
            --dump-dom file://${OUT}/report.html
    OUTPUT_VARIABLE dom
    ERROR_VARIABLE dom_err
    RESULT_VARIABLE dom_rc
    TIMEOUT 120)
execute_process(
    COMMAND ${browser} --user-data-dir=${tmp}/shot --window-size=1400,2400
            --screenshot=${OUT}/report.png file://${OUT}/report.html
    OUTPUT_VARIABLE shot_out
    ERROR_VARIABLE shot_err
    RESULT_VARIABLE shot_rc
    TIMEOUT 120)
file(REMOVE_RECURSE ${tmp})
file(WRITE ${OUT}/report.dom.html "${dom}")

if(NOT dom_rc EQUAL 0)
    message(FATAL_ERROR "chromium --dump-dom exited ${dom_rc}:\n${dom_err}")
endif()
if(NOT dom MATCHES "data-ready=\"1\"")
    message(FATAL_ERROR "the page did not finish drawing "
        "(${OUT}/report.dom.html):\n${dom_err}")
endif()
if(NOT dom MATCHES "<pre id=\"errors\"></pre>")
    string(REGEX MATCH "<pre id=\"errors\">[^<]*</pre>" errors "${dom}")
    message(FATAL_ERROR "the page reported script errors: ${errors}")
endif()
# Chromium's own log of the page's console, for what #errors cannot see.
if(dom_err MATCHES "CONSOLE[^\n]*(Uncaught|Error)")
    message(FATAL_ERROR "console errors:\n${dom_err}")
endif()
if(NOT dom MATCHES "<span id=\"verdict-word\">${VERDICT}</span>")
    message(FATAL_ERROR "the verdict is not ${VERDICT} "
        "(${OUT}/report.dom.html)")
endif()
string(REGEX MATCHALL "class=\"node-row\"" rows "${dom}")
list(LENGTH rows n_rows)
if(NOT n_rows EQUAL NODES)
    message(FATAL_ERROR "the timeline has ${n_rows} node rows, not ${NODES}")
endif()
foreach(re ${MATCH})
    if(NOT dom MATCHES "${re}")
        message(FATAL_ERROR "the page does not match '${re}' "
            "(${OUT}/report.dom.html)")
    endif()
endforeach()
if(NOT shot_rc EQUAL 0 OR NOT EXISTS ${OUT}/report.png)
    message(FATAL_ERROR "chromium --screenshot failed (${shot_rc}):\n"
        "${shot_err}")
endif()
file(SIZE ${OUT}/report.png png_size)
if(png_size LESS 10000)
    message(FATAL_ERROR "the screenshot is ${png_size} bytes: blank?")
endif()
message(STATUS "report drawn: ${n_rows} node rows, verdict ${VERDICT}, "
    "screenshot ${OUT}/report.png (${png_size} bytes)")
