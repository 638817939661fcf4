// checkpoint_file.cpp — libFuzzer harness: the fuzzer's bytes are a whole
// checkpoint file (header, checksum and payload), restored as `gfn sample`
// restores a run. Mostly exercises the header checks (magic, version, size,
// checksum); checkpoint_payload.cpp reaches the payload parser.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    gfn_fuzz::write_bytes(gfn_fuzz::scratch_path(), data, size);
    gfn_fuzz::restore_run(gfn_fuzz::scratch_path());
    return 0;
}
