# A sweep prints the same bytes and keeps the same files whatever its
# number of worker processes: runs the same failing sweep with --jobs 1 and
# --jobs 3 and compares exit code, output and the failing seed's files.
# Usage: cmake -DHARNESS=... -DSCENARIO=... -DOUT=... -P sweep_jobs.cmake
foreach(jobs 1 3)
    file(REMOVE_RECURSE ${OUT}/jobs-${jobs})
    execute_process(
        COMMAND ${HARNESS} ${SCENARIO} --mode sim --seeds 60..70
                --duration 5 --jobs ${jobs} --out ${OUT}/jobs-${jobs}
        OUTPUT_VARIABLE out_${jobs}
        RESULT_VARIABLE rc_${jobs})
endforeach()
if(NOT rc_1 EQUAL 1)
    message(FATAL_ERROR "the planted bug went unnoticed (exit ${rc_1}):\n${out_1}")
endif()
if(NOT rc_1 EQUAL rc_3 OR NOT out_1 STREQUAL out_3)
    message(FATAL_ERROR "--jobs 1 and --jobs 3 differ:\n"
        "exit ${rc_1}:\n${out_1}\nexit ${rc_3}:\n${out_3}")
endif()
foreach(f history.jsonl events.log)
    file(READ ${OUT}/jobs-1/${f} one)
    file(READ ${OUT}/jobs-3/${f} three)
    if(NOT one STREQUAL three)
        message(FATAL_ERROR "--jobs 1 and --jobs 3 keep different ${f}")
    endif()
endforeach()
message(STATUS "${out_1}")
