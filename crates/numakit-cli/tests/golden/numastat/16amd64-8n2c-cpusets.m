$ NUMAKIT_ROOT=tests/fixtures/hwloc-linux/16amd64-8n2c-cpusets.tar.bz2 numakit numastat -m
exit: 1
--- stdout
--- stderr
Can't open /proc/meminfo: No such file or directory
