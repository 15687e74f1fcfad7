#!/bin/sh
# Pacemaker resources for an active/passive Haven broker, with pcs (0.10 or
# later), the same set-up as haven-broker.crm. Run once, on one node of a
# running cluster, after `pcs cluster setup` and a working STONITH device.
# Read haven-broker.crm for what must be in place first.
set -eu

ADDR=${ADDR:-10.0.0.10}
NETMASK=${NETMASK:-24}

pcs cluster cib haven.cib
pcs -f haven.cib resource create p_drbd_haven ocf:linbit:drbd \
	drbd_resource=haven \
	op monitor interval=29s role=Promoted \
	op monitor interval=31s role=Unpromoted
pcs -f haven.cib resource promotable p_drbd_haven \
	promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 \
	notify=true
pcs -f haven.cib resource create p_fs_haven ocf:heartbeat:Filesystem \
	device=/dev/drbd0 directory=/var/lib/haven fstype=ext4 options=noatime \
	--group g_haven
pcs -f haven.cib resource create p_ip_haven ocf:heartbeat:IPaddr2 \
	ip="$ADDR" cidr_netmask="$NETMASK" op monitor interval=10s \
	--group g_haven
pcs -f haven.cib resource create p_haven_broker systemd:haven-broker \
	op monitor interval=15s timeout=30s --group g_haven
pcs -f haven.cib constraint colocation add g_haven with Promoted \
	p_drbd_haven-clone INFINITY
pcs -f haven.cib constraint order promote p_drbd_haven-clone \
	then start g_haven
pcs -f haven.cib property set stonith-enabled=true
pcs cluster cib-push haven.cib --config
