# The run report's size is bounded by construction (harness/src/report.h):
# a long sim run with many operations - far more than a 60 s threaded run
# makes - writes a report.html under LIMIT bytes while its history.jsonl,
# which keeps every operation, is larger than the report by FACTOR.
#
#   cmake -DHARNESS=... -DSCENARIO=... -DARGS="..." -DLIMIT=bytes
#         -DFACTOR=n -DOUT=dir -P report_bound.cmake
file(REMOVE_RECURSE ${OUT})
execute_process(
    COMMAND ${HARNESS} ${SCENARIO} --mode sim --no-status --out ${OUT} ${ARGS}
    OUTPUT_VARIABLE out
    RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the run failed (${rc}):\n${out}")
endif()
file(SIZE ${OUT}/report.html report)
file(SIZE ${OUT}/history.jsonl history)
string(REGEX MATCH "([0-9]+) ok ops" all "${out}")
message(STATUS "${CMAKE_MATCH_1} ok ops; report.html ${report} bytes, "
    "history.jsonl ${history} bytes")
if(NOT report LESS LIMIT)
    message(FATAL_ERROR "report.html is ${report} bytes, not under ${LIMIT}")
endif()
math(EXPR floor "${report} * ${FACTOR}")
if(history LESS floor)
    message(FATAL_ERROR "history.jsonl is only ${history} bytes: the run "
        "was too small to test the bound")
endif()
