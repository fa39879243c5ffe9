"""The arena allocator's invariants under any sequence of allocations and frees (hypothesis),
on a real unlinked shared-memory file that starts small and grows: live allocations are
aligned, inside the arena and disjoint; the free list is sorted and fully coalesced; free and
used space tile the arena exactly; what was written stays put through every growth; freeing
everything leaves one free span."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tritoncore_python.stub.arena import ALIGN, Allocator, Arena, create_fd

START, GROWTH = 1024, 512

operations = st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 3000)),
    st.tuples(st.just("free"), st.integers(0, 1000)),  # the n-th live allocation, modulo
    st.tuples(st.just("free unknown"), st.integers(0, 20000)),
), max_size=60)


def check(allocator: Allocator, live: dict[int, tuple[int, bytes]]) -> None:
    size = allocator.arena.size
    spans = sorted([(o, n, "used") for o, n in allocator.used.items()] +
                   [(o, n, "free") for o, n in allocator.free_list])
    assert allocator.free_list == sorted(allocator.free_list)
    end = 0
    for offset, nbytes, _ in spans:  # tiles [0, size) with no gap and no overlap
        assert offset == end and nbytes > 0
        end = offset + nbytes
    assert end == size
    for (a, n), (b, _) in zip(allocator.free_list, allocator.free_list[1:]):
        assert a + n < b  # coalesced: no two free spans touch
    for offset, (nbytes, pattern) in live.items():
        assert offset % ALIGN == 0
        if nbytes:
            assert allocator.used[offset] == -(-nbytes // ALIGN) * ALIGN
            assert bytes(allocator.arena.view[offset : offset + nbytes]) == pattern


@settings(max_examples=150, deadline=None)
@given(ops=operations)
def test_any_allocations_and_frees_keep_the_arena_consistent(ops: list[tuple[str, int]]) -> None:
    allocator = Allocator(Arena(create_fd("tc_test_alloc_", START)), GROWTH)
    live: dict[int, tuple[int, bytes]] = {}  # offset -> (bytes asked for, what was written)
    try:
        for step, (op, n) in enumerate(ops):
            if op == "alloc":
                before = allocator.arena.size
                offset = allocator.alloc(n)
                if n == 0:
                    assert offset == 0 and allocator.arena.size == before
                    continue
                assert offset not in live
                pattern = bytes([step % 251 + 1]) * n
                allocator.arena.view[offset : offset + n] = pattern
                live[offset] = (n, pattern)
                assert allocator.arena.size == before or \
                    allocator.arena.size >= before + GROWTH
            elif op == "free" and live:
                offset = sorted(live)[n % len(live)]
                allocator.free(offset)
                del live[offset]
            elif op == "free unknown" and n not in allocator.used:
                free_before = list(allocator.free_list)
                allocator.free(n)
                assert allocator.free_list == free_before
            check(allocator, live)
        for offset in list(live):
            allocator.free(offset)
        assert allocator.free_list == [(0, allocator.arena.size)]
        assert allocator.used == {}
    finally:
        allocator.arena.close()


def test_one_allocation_larger_than_the_growth_step_fits_at_once() -> None:
    allocator = Allocator(Arena(create_fd("tc_test_alloc_", START)), GROWTH)
    try:
        first = allocator.alloc(100)
        big = allocator.alloc(10 * GROWTH)
        assert (first, big) == (0, 128)  # the free tail and the new space joined
        assert allocator.arena.size == START + 10 * GROWTH
        allocator.arena.view[big : big + 10 * GROWTH] = b"x" * (10 * GROWTH)
        allocator.free(first)
        allocator.free(big)
        assert allocator.free_list == [(0, allocator.arena.size)]
    finally:
        allocator.arena.close()
