$ NUMAKIT_ROOT=tests/fixtures/qemu-2node/sysfs.tar.gz numakit numastat -m
exit: 0
--- stdout

Per-node system memory usage (in MBs):
                          Node 0          Node 1           Total
                 --------------- --------------- ---------------
MemTotal                  969.53         1006.11         1975.64
MemFree                   930.28          979.84         1910.12
MemUsed                    39.25           26.27           65.52
SwapCached                  0.00            0.00            0.00
Active                      3.56            0.18            3.73
Inactive                    0.00            0.00            0.00
Active(anon)                3.56            0.18            3.73
Inactive(anon)              0.00            0.00            0.00
Active(file)                0.00            0.00            0.00
Inactive(file)              0.00            0.00            0.00
Unevictable                 0.00            0.00            0.00
Mlocked                     0.00            0.00            0.00
Dirty                       0.00            0.00            0.00
Writeback                   0.00            0.00            0.00
FilePages                   3.49            0.05            3.54
Mapped                      1.69            0.00            1.69
AnonPages                   0.07            0.13            0.20
Shmem                       3.49            0.05            3.54
KernelStack                 0.65            0.98            1.63
PageTables                  0.07            0.08            0.15
SecPageTables               1.02            0.11            1.12
NFS_Unstable                0.00            0.00            0.00
Bounce                      0.00            0.00            0.00
WritebackTmp                0.00            0.00            0.00
KReclaimable                0.71            0.47            1.18
Slab                        6.12            7.38           13.51
SReclaimable                0.71            0.47            1.18
SUnreclaim                  5.41            6.91           12.32
AnonHugePages               0.00            0.00            0.00
ShmemHugePages              0.00            0.00            0.00
ShmemPmdMapped              0.00            0.00            0.00
FileHugePages               0.00            0.00            0.00
FilePmdMapped               0.00            0.00            0.00
Unaccepted                  0.00            0.00            0.00
HugePages_Total             0.00            0.00            0.00
HugePages_Free              0.00            0.00            0.00
HugePages_Surp              0.00            0.00            0.00
--- stderr
