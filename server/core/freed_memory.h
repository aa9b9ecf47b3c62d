// Returning freed heap memory to the operating system.
#ifndef RELATED_SERVER_CORE_FREED_MEMORY_H_
#define RELATED_SERVER_CORE_FREED_MEMORY_H_

#include <malloc.h>

namespace related {

// glibc's malloc keeps what a program frees for its own reuse, in one pool
// (arena) per thread that allocated it. A bulk import or a recovery frees
// a lot at once on many threads (request buffers, search results, a whole
// snapshot's records), and the process would go on holding it: at 100k
// articles, ~25% of the resident memory right after an import. Call this
// when such a burst is over; it costs a walk over the free lists.
inline void ReleaseFreedMemory() { malloc_trim(0); }

}  // namespace related

#endif  // RELATED_SERVER_CORE_FREED_MEMORY_H_
