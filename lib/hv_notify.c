/*
 * hv_notify — sd_notify wrappers for Type=notify units.
 */
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "hv_notify.h"

void
hv_notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "serving");
}

void
hv_notify_reloading(void)
{
	sd_notify(0, "RELOADING=1");
}

void
hv_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}
