$ NUMAKIT_ROOT=tests/fixtures/qemu-3node-hmat/sysfs.tar.gz numakit numastat -m
exit: 0
--- stdout

Per-node system memory usage (in MBs):
                          Node 0          Node 1          Node 2           Total
                 --------------- --------------- --------------- ---------------
MemTotal                 1006.30         1007.32          465.85         2479.47
MemFree                   969.37          966.17          453.05         2388.59
MemUsed                    36.93           41.14           12.80           90.88
SwapCached                  0.00            0.00            0.00            0.00
Active                      3.63            0.16            0.00            3.79
Inactive                    0.00            0.00            0.00            0.00
Active(anon)                3.63            0.16            0.00            3.79
Inactive(anon)              0.00            0.00            0.00            0.00
Active(file)                0.00            0.00            0.00            0.00
Inactive(file)              0.00            0.00            0.00            0.00
Unevictable                 0.00            0.00            0.00            0.00
Mlocked                     0.00            0.00            0.00            0.00
Dirty                       0.00            0.00            0.00            0.00
Writeback                   0.00            0.00            0.00            0.00
FilePages                   3.49            0.09            0.00            3.58
Mapped                      1.68            0.00            0.00            1.69
AnonPages                   0.14            0.08            0.00            0.22
Shmem                       3.49            0.09            0.00            3.58
KernelStack                 0.89            0.78            0.01            1.68
PageTables                  0.11            0.09            0.00            0.20
SecPageTables               1.12            0.01            0.00            1.12
NFS_Unstable                0.00            0.00            0.00            0.00
Bounce                      0.00            0.00            0.00            0.00
WritebackTmp                0.00            0.00            0.00            0.00
KReclaimable                0.61            0.45            0.18            1.23
Slab                        5.12            6.65            1.95           13.73
SReclaimable                0.61            0.45            0.18            1.23
SUnreclaim                  4.52            6.21            1.78           12.50
AnonHugePages               0.00            0.00            0.00            0.00
ShmemHugePages              0.00            0.00            0.00            0.00
ShmemPmdMapped              0.00            0.00            0.00            0.00
FileHugePages               0.00            0.00            0.00            0.00
FilePmdMapped               0.00            0.00            0.00            0.00
Unaccepted                  0.00            0.00            0.00            0.00
HugePages_Total             0.00            0.00            0.00            0.00
HugePages_Free              0.00            0.00            0.00            0.00
HugePages_Surp              0.00            0.00            0.00            0.00
--- stderr
