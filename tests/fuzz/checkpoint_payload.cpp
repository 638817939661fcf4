// checkpoint_payload.cpp — libFuzzer harness: the fuzzer's bytes are a
// checkpoint's payload; the harness puts a valid header and checksum in front
// (the format of gfn/runtime/checkpoint.h) so that every mutation reaches the
// payload parser: the stored configuration, then the run's state (iteration,
// random stream, parameters, Adam's moments, modes, prior, replay buffer).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "tests/fuzz/fuzz_checkpoint.h"

namespace {

// FNV-1a, 64 bits: h ← (h ⊕ byte) · 1099511628211, from 14695981039346656037.
uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

}  // namespace

// "GFNCKPT\0"  u32 version  u64 payload_bytes  u64 FNV-1a-64(payload)  payload (little-endian).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string file("GFNCKPT\0", 8);
    const uint32_t version = gfn::kCheckpointVersion;
    const uint64_t bytes = size, sum = fnv1a(data, size);
    file.append(reinterpret_cast<const char*>(&version), 4);
    file.append(reinterpret_cast<const char*>(&bytes), 8);
    file.append(reinterpret_cast<const char*>(&sum), 8);
    file.append(reinterpret_cast<const char*>(data), size);
    gfn_fuzz::write_bytes(gfn_fuzz::scratch_path(), reinterpret_cast<const uint8_t*>(file.data()), file.size());
    gfn_fuzz::restore_run(gfn_fuzz::scratch_path());
    return 0;
}
