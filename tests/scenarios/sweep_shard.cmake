# --shard K/N splits a sweep's range into N disjoint blocks that cover it:
# runs --seeds 3..9 as shards 1/3, 2/3 and 3/3 and checks, from the seeds
# each one ran and the range it reported, that every seed of 3..9 ran in
# exactly one shard, in blocks of 3, 2 and 2 seeds; that a shard of a
# range shorter than N runs nothing; and that K outside 1..N is refused.
# The seeds a shard ran are the test cases of its JUnit file.
# Usage: cmake -DHARNESS=... -DSCENARIO=... -DOUT=... -P sweep_shard.cmake
cmake_minimum_required(VERSION 3.18)
file(MAKE_DIRECTORY ${OUT})
set(seen "")
set(expect_ranges "3..5" "6..7" "8..9")
foreach(k 1 2 3)
    execute_process(
        COMMAND ${HARNESS} ${SCENARIO} --mode sim --seeds 3..9 --shard ${k}/3
                --duration 1 --jobs 1 --junit ${OUT}/shard-${k}.xml
        OUTPUT_VARIABLE out
        RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "shard ${k}/3 failed (exit ${rc}):\n${out}")
    endif()
    math(EXPR at "${k} - 1")
    list(GET expect_ranges ${at} range)
    if(NOT out MATCHES "seeds passed \\(${range}\\)")
        message(FATAL_ERROR "shard ${k}/3 is not ${range}:\n${out}")
    endif()
    file(READ ${OUT}/shard-${k}.xml junit)
    string(REGEX MATCHALL "name=\"seed [0-9]+\"" ran "${junit}")
    foreach(s IN LISTS ran)
        string(REGEX REPLACE "[^0-9]" "" s "${s}")
        if(s IN_LIST seen)
            message(FATAL_ERROR "seed ${s} ran in two shards")
        endif()
        list(APPEND seen ${s})
    endforeach()
endforeach()
list(SORT seen COMPARE NATURAL)
if(NOT seen STREQUAL "3;4;5;6;7;8;9")
    message(FATAL_ERROR "the shards ran seeds ${seen}, not 3..9 once each")
endif()
execute_process(
    COMMAND ${HARNESS} ${SCENARIO} --mode sim --seeds 1..2 --shard 3/3
    OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT out MATCHES "shard 3/3 holds no seeds")
    message(FATAL_ERROR "shard 3/3 of 1..2 (exit ${rc}):\n${out}")
endif()
foreach(bad 0/3 4/3 x/3 3)
    execute_process(
        COMMAND ${HARNESS} ${SCENARIO} --mode sim --seeds 1..9 --shard ${bad}
        ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(NOT rc EQUAL 2 OR NOT err MATCHES "--shard takes K/N")
        message(FATAL_ERROR "--shard ${bad} was not refused (exit ${rc}): ${err}")
    endif()
endforeach()
message(STATUS "shards 3..5, 6..7, 8..9 cover 3..9 once each")
