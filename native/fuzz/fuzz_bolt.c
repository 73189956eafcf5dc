/* libFuzzer target for the Bolt codec (seeds: corpus/bolt, frames from sofa-bolt-node). */
#include <errno.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(xm_codec_builtin("bolt"), data, size);
	return 0;
}
