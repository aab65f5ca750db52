# scripts/make-lab.sh makes a pack without the reference core and the
# instructor's scenarios, which configures and builds libraft.a with the
# skeleton (labs/raft) as its core. Tests are left out of the pack's
# configuration and only the core is built: the rest of the tree is the
# repository's own, built and tested already.
# Usage: cmake -DSOURCE=... -DOUT=... -P pack.cmake
cmake_minimum_required(VERSION 3.18)
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
execute_process(COMMAND ${SOURCE}/scripts/make-lab.sh ${OUT}/pack.tar.gz
    RESULT_VARIABLE rc OUTPUT_VARIABLE made ERROR_VARIABLE made)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "make-lab.sh failed (exit ${rc}):\n${made}")
endif()
execute_process(COMMAND tar xzf pack.tar.gz WORKING_DIRECTORY ${OUT}
    RESULT_VARIABLE rc)
set(pack ${OUT}/raftkv-lab)
foreach(gone raft/src/election.c raft/src/replication.c raft/src/raft.c
        raft/src/snapshot.c labs/instructor tests/labs/mistakes)
    if(EXISTS ${pack}/${gone})
        message(FATAL_ERROR "the pack holds ${gone}")
    endif()
endforeach()
foreach(kept labs/raft/election.c labs/raft/PROVIDED raft/src/log.c
        raft/src/raft_internal.h labs/3A scripts/grade.sh raft/include/raft/raft.h)
    if(NOT EXISTS ${pack}/${kept})
        message(FATAL_ERROR "the pack lacks ${kept}")
    endif()
endforeach()
execute_process(
    COMMAND ${CMAKE_COMMAND} -S ${pack} -B ${OUT}/build
            -DRAFTKV_BUILD_TESTS=OFF -DRAFTKV_INSTALL=OFF -DRAFTKV_WERROR=ON
    RESULT_VARIABLE rc OUTPUT_VARIABLE cfg ERROR_VARIABLE cfg)
if(NOT rc EQUAL 0 OR NOT cfg MATCHES "Raft core: [^\n]*/labs/raft")
    message(FATAL_ERROR "the pack does not configure with the skeleton "
        "(exit ${rc}):\n${cfg}")
endif()
execute_process(
    COMMAND ${CMAKE_COMMAND} --build ${OUT}/build --target raft -j2
    RESULT_VARIABLE rc OUTPUT_VARIABLE built ERROR_VARIABLE built)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the pack's core does not build:\n${built}")
endif()
message(STATUS "${made}")
