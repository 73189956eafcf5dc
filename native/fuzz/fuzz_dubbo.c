/* libFuzzer target for the Dubbo codec and its hessian2 reader (seeds: corpus/dubbo). */
#include <errno.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(xm_codec_builtin("dubbo"), data, size);
	return 0;
}
