//! Gzip on every core: the input is cut into blocks, each block is deflated
//! on its own thread and ends on a byte boundary (a sync flush), and the
//! blocks are written in order as one deflate stream inside one gzip member,
//! so that any gunzip reads it back. The CRC of each block is computed beside
//! its compression and combined in order. Blocks start without the previous
//! block's window, which costs a fraction of a percent of ratio at this block
//! size and keeps every block independent.
//!
//! While it compresses, it hashes both sides: the uncompressed bytes (the
//! layer's diff ID) and the gzip stream (the blob's digest), so nothing is
//! read twice.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc;

use flate2::{Compress, Compression, Crc, FlushCompress};
use sha2::{Digest, Sha256};

/// Uncompressed bytes per block: big enough that a block's loss of the
/// previous window is negligible, small enough that every core has work.
pub const BLOCK_SIZE: usize = 1 << 20;

/// The gzip header: deflate, no name, no time (so equal input gives an
/// equal blob, and an equal digest), unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final block with fixed codes: ends the deflate stream that the
/// sync-flushed blocks left open.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// What a compression produced, beside the bytes handed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    /// `sha256:…` of the gzip stream: the blob's digest.
    pub digest: String,
    /// Bytes of the gzip stream.
    pub size: u64,
    /// `sha256:…` of the input: the layer's diff ID.
    pub diff_id: String,
    pub uncompressed_size: u64,
}

/// One block's result, as a worker hands it back.
struct Block {
    index: u64,
    deflated: Vec<u8>,
    crc: Crc,
}

/// Compresses `input` at `level` (0-9) on `threads` threads, handing the
/// gzip stream to `emit` in order and the count of input bytes read so far
/// to `progress`. At most two blocks per thread are in flight, so memory
/// stays at a few MiB per core whatever the input's size.
pub fn compress(
    input: &mut dyn Read,
    level: u32,
    threads: usize,
    emit: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Compressed> {
    let threads = threads.max(1);
    let level = Compression::new(level.min(9));
    let mut output = Output::new(emit);
    output.write(&HEADER)?;
    let mut input_hash = Sha256::new();
    let mut input_size = 0u64;
    let mut crc = Crc::new();

    std::thread::scope(|scope| -> io::Result<()> {
        let (block_sender, block_receiver) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads);
        let block_receiver = std::sync::Arc::new(std::sync::Mutex::new(block_receiver));
        let (done_sender, done_receiver) = mpsc::channel::<io::Result<Block>>();
        for _ in 0..threads {
            let blocks = block_receiver.clone();
            let done = done_sender.clone();
            scope.spawn(move || {
                let mut deflater = Compress::new(level, false);
                loop {
                    // The lock is held only while waiting for the next block.
                    let next = match blocks.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok((index, data)) = next else { return };
                    let result = deflate_block(&mut deflater, &data).map(|deflated| {
                        let mut crc = Crc::new();
                        crc.update(&data);
                        Block {
                            index,
                            deflated,
                            crc,
                        }
                    });
                    if done.send(result).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_sender);

        let max_in_flight = 2 * threads as u64;
        let (mut sent, mut written) = (0u64, 0u64);
        let mut waiting = BTreeMap::new();
        let mut finished_reading = false;
        loop {
            while !finished_reading && sent - written < max_in_flight {
                let block = read_block(input)?;
                if block.is_empty() {
                    finished_reading = true;
                    break;
                }
                input_hash.update(&block);
                input_size += block.len() as u64;
                progress(input_size);
                block_sender
                    .send((sent, block))
                    .map_err(|_| io::Error::other("a compression thread stopped"))?;
                sent += 1;
            }
            if written == sent {
                break;
            }
            let block = done_receiver
                .recv()
                .map_err(|_| io::Error::other("a compression thread stopped"))??;
            waiting.insert(block.index, block);
            while let Some(block) = waiting.remove(&written) {
                crc.combine(&block.crc);
                output.write(&block.deflated)?;
                written += 1;
            }
        }
        // Closing the channel ends the workers.
        drop(block_sender);
        Ok(())
    })?;

    output.write(&FINAL_BLOCK)?;
    let mut trailer = [0u8; 8];
    trailer[..4].copy_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the input's size modulo 2^32, as the format defines it.
    trailer[4..].copy_from_slice(&(input_size as u32).to_le_bytes());
    output.write(&trailer)?;
    Ok(Compressed {
        digest: format!("sha256:{}", hex::encode(output.hash.finalize())),
        size: output.size,
        diff_id: format!("sha256:{}", hex::encode(input_hash.finalize())),
        uncompressed_size: input_size,
    })
}

/// The gzip stream on its way out: counted and hashed as it is handed on.
struct Output<'a> {
    emit: &'a mut dyn FnMut(&[u8]) -> io::Result<()>,
    hash: Sha256,
    size: u64,
}

impl<'a> Output<'a> {
    fn new(emit: &'a mut dyn FnMut(&[u8]) -> io::Result<()>) -> Output<'a> {
        Output {
            emit,
            hash: Sha256::new(),
            size: 0,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        (self.emit)(bytes)
    }
}

/// Reads up to [`BLOCK_SIZE`] bytes; fewer only at the end of the input.
fn read_block(input: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut block = Vec::with_capacity(BLOCK_SIZE);
    input.take(BLOCK_SIZE as u64).read_to_end(&mut block)?;
    Ok(block)
}

/// Deflates one block as raw deflate, ending on a byte boundary with the
/// stream left open (a sync flush), so that blocks can be concatenated.
fn deflate_block(deflater: &mut Compress, data: &[u8]) -> io::Result<Vec<u8>> {
    deflater.reset();
    let mut deflated = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let consumed = deflater.total_in() as usize;
        deflater
            .compress_vec(&data[consumed..], &mut deflated, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        // A sync flush is complete once all input is taken and the output
        // was not filled to the brim.
        if deflater.total_in() as usize == data.len() && deflated.len() < deflated.capacity() {
            return Ok(deflated);
        }
        deflated.reserve(deflated.capacity().max(1024));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    /// Bytes that compress somewhat, like binaries: a repeating text with a
    /// running counter, and a stretch of pseudo-random noise.
    fn sample(size: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(size);
        let mut state = 0x2545_f491_u32;
        let mut line = 0u64;
        while bytes.len() < size {
            if line.is_multiple_of(7) {
                for _ in 0..64 {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    bytes.push(state as u8);
                }
            } else {
                bytes.extend_from_slice(format!("line {line} of the sample layer\n").as_bytes());
            }
            line += 1;
        }
        bytes.truncate(size);
        bytes
    }

    fn gzip(input: &[u8], level: u32, threads: usize) -> (Vec<u8>, Compressed, u64) {
        let mut stream = Vec::new();
        let mut last_progress = 0;
        let summary = compress(
            &mut &input[..],
            level,
            threads,
            &mut |bytes| {
                stream.extend_from_slice(bytes);
                Ok(())
            },
            &mut |read| last_progress = read,
        )
        .expect("compresses");
        (stream, summary, last_progress)
    }

    fn gunzip(stream: &[u8]) -> Vec<u8> {
        let mut decoder = GzDecoder::new(stream);
        let mut output = Vec::new();
        decoder
            .read_to_end(&mut output)
            .expect("a valid gzip stream");
        // One member: nothing may follow it.
        assert!(
            decoder.into_inner().is_empty(),
            "bytes after the gzip member"
        );
        output
    }

    #[test]
    fn many_blocks_on_many_threads_decompress_to_the_input() {
        let input = sample(5 * BLOCK_SIZE + 12_345);
        let (stream, summary, progress) = gzip(&input, 6, 3);
        assert_eq!(gunzip(&stream), input);
        assert_eq!(progress, input.len() as u64);
        assert_eq!(summary.uncompressed_size, input.len() as u64);
        assert_eq!(summary.size, stream.len() as u64);
        assert!(
            stream.len() < input.len() / 2,
            "level 6 compresses text: {} of {}",
            stream.len(),
            input.len()
        );
    }

    #[test]
    fn digests_are_sha256_of_both_sides() {
        let input = sample(BLOCK_SIZE + 1);
        let (stream, summary, _) = gzip(&input, 6, 2);
        assert_eq!(
            summary.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&stream)))
        );
        assert_eq!(
            summary.diff_id,
            format!("sha256:{}", hex::encode(Sha256::digest(&input)))
        );
    }

    #[test]
    fn the_stream_is_the_same_whatever_the_thread_count() {
        let input = sample(3 * BLOCK_SIZE + 7);
        let (one, ..) = gzip(&input, 6, 1);
        let (four, ..) = gzip(&input, 6, 4);
        assert_eq!(one, four, "a digest must not depend on the machine's cores");
    }

    #[test]
    fn empty_input_and_every_level_give_valid_streams() {
        let (stream, summary, _) = gzip(&[], 6, 2);
        assert!(gunzip(&stream).is_empty());
        assert_eq!(summary.uncompressed_size, 0);
        let input = sample(BLOCK_SIZE / 3);
        for level in 0..=9 {
            let (stream, ..) = gzip(&input, level, 2);
            assert_eq!(gunzip(&stream), input, "level {level}");
        }
        let (stored, ..) = gzip(&input, 0, 2);
        let (best, ..) = gzip(&input, 9, 2);
        assert!(stored.len() > input.len() && best.len() < input.len() / 2);
    }

    #[test]
    fn a_failing_reader_is_an_error_not_a_truncated_stream() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("export cut"));
                }
                let n = buffer.len().min(self.0);
                buffer[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        let error = compress(
            &mut Failing(3 * BLOCK_SIZE),
            6,
            2,
            &mut |_| Ok(()),
            &mut |_| {},
        )
        .expect_err("the reader's error");
        assert_eq!(error.to_string(), "export cut");
    }
}
