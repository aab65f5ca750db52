# Runs a scenario and checks more than its verdict: the run must pass, its
# output must match every regular expression in OUTPUT_MATCH, and its
# events.log every one in EVENTS_MATCH (both ;-separated lists), so that a
# test can insist that a fault really struck (a crash_after trigger fired,
# several nemesis faults held at once).
# Usage: cmake -DHARNESS=... -DSCENARIO=... -DOUT=... [-DMODE=sim]
#              [-DOUTPUT_MATCH=...] [-DEVENTS_MATCH=...] -P expect_events.cmake
file(REMOVE_RECURSE ${OUT})
set(mode_args)
if(DEFINED MODE)
    set(mode_args --mode ${MODE})
endif()
execute_process(
    COMMAND ${HARNESS} ${SCENARIO} ${mode_args} --no-status --out ${OUT}
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err
    RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the run failed (exit ${rc}):\n${out}${err}")
endif()
foreach(re ${OUTPUT_MATCH})
    if(NOT out MATCHES "${re}")
        message(FATAL_ERROR "the output does not match '${re}':\n${out}")
    endif()
endforeach()
file(READ ${OUT}/events.log events)
foreach(re ${EVENTS_MATCH})
    if(NOT events MATCHES "${re}")
        message(FATAL_ERROR "events.log does not match '${re}':\n${events}")
    endif()
endforeach()
message(STATUS "${out}")
