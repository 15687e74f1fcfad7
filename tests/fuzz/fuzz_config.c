/*
 * libFuzzer harness for the INI config loader (lib/hv_config): any bytes as
 * an agent config file must load or be refused with file:line, never crash
 * or leak. Build with `make fuzz`; run build/fuzz/fuzz_config.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv_config.h"

struct conf {
	char *id, *key, *broker, *listen, *data_dir;
	uint64_t escalate_after;
};

static const struct hv_cfg_key keys[] = {
	{ "id", HV_CFG_NODE, offsetof(struct conf, id), 1, NULL, 0, 0 },
	{ "key", HV_CFG_PATH, offsetof(struct conf, key), 1, NULL, 0, 0 },
	{ "broker", HV_CFG_ZMQ_ENDPOINT, offsetof(struct conf, broker), 0,
	    "tcp://127.0.0.1:7400", 0, 0 },
	{ "listen", HV_CFG_LISTEN, offsetof(struct conf, listen), 0,
	    "127.0.0.1:7501", 0, 0 },
	{ "data_dir", HV_CFG_PATH, offsetof(struct conf, data_dir), 0, "data",
	    0, 0 },
	{ "escalate_after", HV_CFG_U64, offsetof(struct conf, escalate_after),
	    0, "900", 1, 86400 },
	{ NULL, 0, 0, 0, NULL, 0, 0 },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/haven-fuzz-conf-XXXXXX";
	struct hv_errdetail d;
	struct conf c;
	int fd = mkstemp(path);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		memset(&c, 0, sizeof(c));
		if (hv_config_load(path, "agent", keys, &c, &d) == HV_OK)
			hv_config_free(keys, &c);
	}
	close(fd);
	unlink(path);
	return 0;
}
