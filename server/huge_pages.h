// Asking the kernel for transparent huge pages for the server's heap.
#ifndef RELATED_SERVER_HUGE_PAGES_H_
#define RELATED_SERVER_HUGE_PAGES_H_

namespace related {

// HNSW inserts and searches visit vectors at random across gigabytes (1.5
// GB at a million 384-dim articles). With 4 KB pages nearly every visit
// misses the TLB; 2 MB pages make the same walks much cheaper. Debian's
// kernel default gives huge pages only to memory that asks for them
// (/sys/kernel/mm/transparent_hugepage/enabled = madvise), and glibc's
// malloc asks only when the tunable glibc.malloc.hugetlb=1 is in the
// environment at program start. So, when the kernel is in that mode and the
// tunable is not set either way, this re-executes the program once with it
// set. Returns only if it did not re-execute.
void ReexecWithHugePages(char** argv);

}  // namespace related

#endif  // RELATED_SERVER_HUGE_PAGES_H_
