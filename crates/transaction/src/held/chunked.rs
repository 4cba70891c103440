//! A first-in first-out queue in fixed chunks of about 64 KiB.
//!
//! The held table keeps hundreds of thousands of slots and packed bytes
//! at once, appended at the back and let go at the front. A `VecDeque`
//! grows by doubling and keeps its whole capacity in use as its head
//! moves round it, so just past a power of two it holds nearly twice
//! what it needs; here the room beyond what is queued is at most a chunk
//! at each end, and a chunk goes back to the allocator as soon as the
//! front has passed it.

use std::collections::VecDeque;

/// Bytes of one chunk.
const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Chunked<T> {
    /// Every chunk but the last is full; the first `head` items of the
    /// first have left the queue.
    chunks: VecDeque<Vec<T>>,
    head: usize,
    len: usize,
}

impl<T: Copy> Chunked<T> {
    pub(crate) fn new() -> Self {
        Chunked {
            chunks: VecDeque::new(),
            head: 0,
            len: 0,
        }
    }

    /// Items in one chunk.
    const PER_CHUNK: usize = {
        let size = std::mem::size_of::<T>();
        if size == 0 || size >= CHUNK_BYTES {
            1
        } else {
            CHUNK_BYTES / size
        }
    };

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Items the chunks have room for, queued or not.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.chunks.len() * Self::PER_CHUNK
    }

    pub(crate) fn push_back(&mut self, item: T) {
        self.extend_from_slice(std::slice::from_ref(&item));
    }

    pub(crate) fn extend_from_slice(&mut self, mut items: &[T]) {
        while !items.is_empty() {
            if self
                .chunks
                .back()
                .is_none_or(|c| c.len() == Self::PER_CHUNK)
            {
                self.chunks.push_back(Vec::with_capacity(Self::PER_CHUNK));
            }
            let Some(last) = self.chunks.back_mut() else {
                return;
            };
            let n = items.len().min(Self::PER_CHUNK - last.len());
            last.extend_from_slice(&items[..n]);
            self.len += n;
            items = &items[n..];
        }
    }

    /// Where item `i` (counted from the front) lies.
    fn place(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        let at = self.head + i;
        Some((at / Self::PER_CHUNK, at % Self::PER_CHUNK))
    }

    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        let (chunk, at) = self.place(i)?;
        self.chunks.get(chunk)?.get(at)
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let (chunk, at) = self.place(i)?;
        self.chunks.get_mut(chunk)?.get_mut(at)
    }

    pub(crate) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let item = *self.front()?;
        self.drain_front(1);
        Some(item)
    }

    /// Lets the first `n` items (or all there are) go.
    pub(crate) fn drain_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head += n;
        let passed = self.head / Self::PER_CHUNK;
        self.chunks.drain(..passed.min(self.chunks.len()));
        self.head %= Self::PER_CHUNK;
        if self.len == 0 {
            self.chunks.clear();
            self.head = 0;
        }
    }

    /// Copies `len` items from item `from` on into `out`; false, and
    /// nothing copied, when they are not all queued.
    pub(crate) fn copy_range(&self, from: usize, len: usize, out: &mut Vec<T>) -> bool {
        if from.checked_add(len).is_none_or(|end| end > self.len) {
            return false;
        }
        let mut i = from;
        let end = from + len;
        while i < end {
            let Some((chunk, at)) = self.place(i) else {
                return false;
            };
            let Some(c) = self.chunks.get(chunk) else {
                return false;
            };
            let n = (end - i).min(Self::PER_CHUNK - at);
            out.extend_from_slice(&c[at..at + n]);
            i += n;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PER: usize = Chunked::<u8>::PER_CHUNK;

    #[test]
    fn items_come_out_in_order_across_chunks() {
        let mut q: Chunked<u32> = Chunked::new();
        let per = Chunked::<u32>::PER_CHUNK as u32;
        for i in 0..3 * per + 5 {
            q.push_back(i);
        }
        assert_eq!(q.len(), 3 * per as usize + 5);
        assert_eq!(q.get(per as usize), Some(&per));
        *q.get_mut(1).unwrap() = 100;
        assert_eq!(q.pop_front(), Some(0));
        assert_eq!(q.pop_front(), Some(100));
        for i in 2..3 * per + 5 {
            assert_eq!(q.pop_front(), Some(i));
        }
        assert_eq!((q.pop_front(), q.len(), q.capacity()), (None, 0, 0));
    }

    #[test]
    fn a_chunk_is_let_go_once_the_front_has_passed_it() {
        let mut q: Chunked<u8> = Chunked::new();
        q.extend_from_slice(&vec![7; 2 * PER + 1]);
        assert_eq!(q.capacity(), 3 * PER);
        q.drain_front(PER - 1);
        assert_eq!(q.capacity(), 3 * PER, "the first chunk still holds one");
        q.drain_front(1);
        assert_eq!(q.capacity(), 2 * PER);
        assert_eq!(q.front(), Some(&7));
        q.drain_front(usize::MAX);
        assert!(q.is_empty() && q.capacity() == 0);
    }

    #[test]
    fn a_range_is_copied_across_a_chunk_boundary() {
        let mut q: Chunked<u8> = Chunked::new();
        let data: Vec<u8> = (0..2 * PER + 10).map(|i| i as u8).collect();
        q.extend_from_slice(&data[..PER - 3]);
        q.extend_from_slice(&data[PER - 3..]);
        q.drain_front(5);
        let mut out = Vec::new();
        assert!(q.copy_range(PER - 10, 20, &mut out));
        assert_eq!(out, data[PER - 5..PER + 15]);
        out.clear();
        assert!(!q.copy_range(2 * PER, 6, &mut out), "past the end");
        assert!(!q.copy_range(usize::MAX, 2, &mut out));
        assert!(out.is_empty());
    }
}
