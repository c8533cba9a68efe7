$ NUMAKIT_ROOT=tests/fixtures/hwloc-linux/offline-cpu0-node0.tar.bz2 numakit numastat -m
exit: 0
--- stdout

Per-node system memory usage (in MBs):
                          Node 1           Total
                 --------------- ---------------
MemTotal                65536.00        65536.00
MemFree                 56556.05        56556.05
MemUsed                  8979.95         8979.95
Active                   7024.64         7024.64
Inactive                  162.34          162.34
Active(anon)             6983.52         6983.52
Inactive(anon)             66.26           66.26
Active(file)               41.13           41.13
Inactive(file)             96.08           96.08
Unevictable                 0.00            0.00
Mlocked                     0.00            0.00
Dirty                       4.95            4.95
Writeback                   0.00            0.00
FilePages                 203.48          203.48
Mapped                     97.64           97.64
AnonPages                6984.09         6984.09
Shmem                      66.27           66.27
KernelStack                 7.05            7.05
PageTables                 22.90           22.90
NFS_Unstable                0.00            0.00
Bounce                      0.00            0.00
WritebackTmp                0.00            0.00
Slab                      118.70          118.70
SReclaimable               24.88           24.88
SUnreclaim                 93.83           93.83
AnonHugePages            4290.00         4290.00
HugePages_Total             0.00            0.00
HugePages_Free              0.00            0.00
HugePages_Surp              0.00            0.00
--- stderr
