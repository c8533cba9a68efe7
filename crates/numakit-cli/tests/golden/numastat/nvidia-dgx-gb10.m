$ NUMAKIT_ROOT=tests/fixtures/hwloc-linux/nvidia-dgx-gb10.tar.bz2 numakit numastat -m
exit: 0
--- stdout

Per-node system memory usage (in MBs):
                          Node 0           Total
                 --------------- ---------------
MemTotal               122566.86       122566.86
MemFree                 65644.74        65644.74
MemUsed                 56922.12        56922.12
SwapCached                 47.15           47.15
Active                  13900.38        13900.38
Inactive                40340.67        40340.67
Active(anon)              209.15          209.15
Inactive(anon)             56.66           56.66
Active(file)            13691.23        13691.23
Inactive(file)          40284.01        40284.01
Unevictable                23.97           23.97
Mlocked                    23.97           23.97
Dirty                      15.72           15.72
Writeback                   0.00            0.00
FilePages               54031.39        54031.39
Mapped                    214.90          214.90
AnonPages                 273.63          273.63
Shmem                       3.43            3.43
KernelStack                13.88           13.88
ShadowCallStack             4.02            4.02
PageTables                 24.55           24.55
SecPageTables               7.20            7.20
NFS_Unstable                0.00            0.00
Bounce                      0.00            0.00
WritebackTmp                0.00            0.00
KReclaimable              324.86          324.86
Slab                      794.74          794.74
SReclaimable              324.86          324.86
SUnreclaim                469.88          469.88
AnonHugePages               0.00            0.00
ShmemHugePages              0.00            0.00
ShmemPmdMapped              0.00            0.00
FileHugePages             136.00          136.00
FilePmdMapped               0.00            0.00
HugePages_Total             0.00            0.00
HugePages_Free              0.00            0.00
HugePages_Surp              0.00            0.00
--- stderr
