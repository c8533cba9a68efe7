$ NUMAKIT_ROOT=tests/fixtures/gpu-amd/sysfs.tar.gz numakit numastat -m
exit: 0
--- stdout

Per-node system memory usage (in MBs):
                          Node 0          Node 1           Total
                 --------------- --------------- ---------------
MemTotal                 1006.30          969.31         1975.61
MemFree                   974.41          925.74         1900.14
MemUsed                    31.89           43.57           75.46
SwapCached                  0.00            0.00            0.00
Active                      3.62            0.21            3.82
Inactive                    0.00            0.00            0.00
Active(anon)                3.62            0.21            3.82
Inactive(anon)              0.00            0.00            0.00
Active(file)                0.00            0.00            0.00
Inactive(file)              0.00            0.00            0.00
Unevictable                 0.00            0.00            0.00
Mlocked                     0.00            0.00            0.00
Dirty                       0.00            0.00            0.00
Writeback                   0.00            0.00            0.00
FilePages                   3.50            0.01            3.51
Mapped                      1.68            0.00            1.69
AnonPages                   0.12            0.20            0.32
Shmem                       3.50            0.01            3.51
KernelStack                 0.76            1.03            1.79
PageTables                  0.10            0.02            0.12
SecPageTables               1.04            0.18            1.21
NFS_Unstable                0.00            0.00            0.00
Bounce                      0.00            0.00            0.00
WritebackTmp                0.00            0.00            0.00
KReclaimable                0.57            0.82            1.39
Slab                        8.16            6.80           14.96
SReclaimable                0.57            0.82            1.39
SUnreclaim                  7.59            5.98           13.57
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
