# A scenario's event log says what its faults did: runs SCENARIO in sim
# mode (it must pass) and checks that OUT/events.log has, in order, a line
# matching each line of EVENTS (CMake regular expressions, one a line;
# blank lines and lines starting with # are skipped).
# Usage: cmake -DHARNESS=... -DSCENARIO=... -DEVENTS=... -DOUT=... -P events.cmake
file(REMOVE_RECURSE ${OUT})
execute_process(
    COMMAND ${HARNESS} ${SCENARIO} --mode sim --no-status --quiet --out ${OUT}
    OUTPUT_VARIABLE out
    RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SCENARIO} failed (exit ${rc}):\n${out}")
endif()
file(STRINGS ${OUT}/events.log log)
file(STRINGS ${EVENTS} wanted)
set(at 0)
list(LENGTH log n)
foreach(re IN LISTS wanted)
    if(re STREQUAL "" OR re MATCHES "^#")
        continue()
    endif()
    set(found FALSE)
    while(at LESS n)
        list(GET log ${at} line)
        math(EXPR at "${at} + 1")
        if(line MATCHES "${re}")
            set(found TRUE)
            break()
        endif()
    endwhile()
    if(NOT found)
        message(FATAL_ERROR "${OUT}/events.log has no line matching '${re}' "
            "after the lines matched before it")
    endif()
endforeach()
message(STATUS "${out}")
