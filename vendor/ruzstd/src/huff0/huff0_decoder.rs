//! Utilities for decoding Huff0 encoded huffman data.

use crate::bit_io::BitReaderReversed;
use crate::decoding::errors::{DecompressLiteralsError, HuffmanTableError};
use crate::fse::{FSEDecoder, FSETable};
use alloc::vec::Vec;

/// The Zstandard specification limits the maximum length of a code to 11 bits.
pub(crate) const MAX_MAX_NUM_BITS: u8 = 11;

// kafkaroo: literals now decode through `HuffmanTable::decode_stream`; this stays for the
// `fuzz_exports` API and upstream's tests.
#[allow(dead_code)]
pub struct HuffmanDecoder<'table> {
    table: &'table HuffmanTable,
    /// State is used to index into the table.
    pub state: u64,
}

#[allow(dead_code)]
impl<'t> HuffmanDecoder<'t> {
    /// Create a new decoder with the provided table
    pub fn new(table: &'t HuffmanTable) -> HuffmanDecoder<'t> {
        HuffmanDecoder { table, state: 0 }
    }

    /// Decode the symbol the internal state (cursor) is pointed at and return the
    /// decoded literal.
    pub fn decode_symbol(&mut self) -> u8 {
        self.table.decode[self.state as usize].symbol
    }

    /// Initialize internal state and prepare to decode data. Then, `decode_symbol` can be called
    /// to read the byte the internal cursor is pointing at, and `next_state` can be called to advance
    /// the cursor until the max number of bits has been read.
    pub fn init_state(&mut self, br: &mut BitReaderReversed<'_>) -> u8 {
        let num_bits = self.table.max_num_bits;
        let new_bits = br.get_bits(num_bits);
        self.state = new_bits;
        num_bits
    }

    /// Advance the internal cursor to the next symbol. After this, you can call `decode_symbol`
    /// to read from the new position.
    pub fn next_state(&mut self, br: &mut BitReaderReversed<'_>) -> u8 {
        // self.state stores a small section, or a window of the bit stream. The table can be indexed via this state,
        // telling you how many bits identify the current symbol.
        let num_bits = self.table.decode[self.state as usize].num_bits;
        // New bits are read from the stream
        let new_bits = br.get_bits(num_bits);
        // Shift and mask out the bits that identify the current symbol
        self.state <<= num_bits;
        self.state &= self.table.decode.len() as u64 - 1;
        // The new bits are appended at the end of the current state.
        self.state |= new_bits;
        num_bits
    }
}

/// A Huffman decoding table contains a list of Huffman prefix codes and their associated values
pub struct HuffmanTable {
    decode: Vec<Entry>,
    /// The weight of a symbol is the number of occurences in a table.
    /// This value is used in constructing a binary tree referred to as
    /// a Huffman tree. Once this tree is constructed, it can be used to build the
    /// lookup table
    weights: Vec<u8>,
    /// The maximum size in bits a prefix code in the encoded data can be.
    /// This value is used so that the decoder knows how many bits
    /// to read from the bitstream before checking the table. This
    /// value must be 11 or lower.
    pub max_num_bits: u8,
    bits: Vec<u8>,
    bit_ranks: Vec<u32>,
    rank_indexes: Vec<usize>,
    /// In some cases, the list of weights is compressed using FSE compression.
    fse_table: FSETable,
}

impl HuffmanTable {
    /// Decodes the four streams of a 4-stream literals section into `out` (exactly the
    /// regenerated size) with the streams interleaved, so their table lookups overlap. Each stream
    /// must have valid padding, end exactly (no bits left over, none missing), and produce its
    /// segment: `(out.len() + 3) / 4` bytes for the first three, the rest for the fourth
    /// (RFC 8878 4.2.2: the regenerated size split into four). `out` is unspecified after an error.
    ///
    /// kafkaroo addition, like the reference decoder's `HUF_decompress4X1`, which refuses the same
    /// streams; upstream decoded the streams one after another and accepted other splits.
    pub(crate) fn decode_4_streams(
        &self,
        streams: [&[u8]; 4],
        out: &mut [u8],
    ) -> Result<(), DecompressLiteralsError> {
        let max_bits = self.max_num_bits;
        let decode = &self.decode[..];
        if max_bits == 0 || decode.len() != 1 << max_bits {
            return Err(DecompressLiteralsError::UninitializedHuffmanTable);
        }
        let segment = (out.len() + 3) / 4;
        if out.len() < 6 {
            // Also what makes `3 * segment <= out.len()`.
            return Err(DecompressLiteralsError::TooFewLiteralsForFourStreams { got: out.len() });
        }
        let ends = [segment, 2 * segment, 3 * segment, out.len()];
        let mut pos = [0, segment, 2 * segment, 3 * segment];
        let mut readers = [
            BitReaderReversed::new(streams[0]),
            BitReaderReversed::new(streams[1]),
            BitReaderReversed::new(streams[2]),
            BitReaderReversed::new(streams[3]),
        ];
        for br in readers.iter_mut() {
            skip_padding(br)?;
        }
        let per_refill = 56 / max_bits as usize;
        // Bits one round of `per_refill` symbols per stream can consume at most.
        let round_bits = (per_refill * max_bits as usize) as isize;
        loop {
            let room = (0..4).all(|i| {
                readers[i].bits_remaining() > round_bits && pos[i] + per_refill <= ends[i]
            });
            if !room {
                break;
            }
            for br in readers.iter_mut() {
                br.refill();
            }
            for _ in 0..per_refill {
                for i in 0..4 {
                    let entry = decode[readers[i].peek_bits_fast(max_bits) as usize];
                    out[pos[i]] = entry.symbol;
                    pos[i] += 1;
                    readers[i].consume(entry.num_bits.max(1));
                }
            }
        }
        // Each stream's tail, one at a time.
        for i in 0..4 {
            let expected = ends[i] - i * segment;
            let (n, read_til) = self
                .decode_stream(&mut readers[i], &mut out[pos[i]..ends[i]])
                .ok_or(DecompressLiteralsError::StreamTooLong {
                    stream: i + 1,
                    literals: expected,
                })?;
            check_stream_end(read_til, max_bits)?;
            if pos[i] + n != ends[i] {
                return Err(DecompressLiteralsError::DecodedLiteralCountMismatch {
                    decoded: pos[i] + n - i * segment,
                    expected,
                });
            }
        }
        Ok(())
    }

    /// Decodes one Huffman stream from `br` (positioned after the stream's padding) into `out`,
    /// stopping once the stream's bits are used up. Returns how many bytes were written and the
    /// reader's remaining bit count as upstream's state-machine loop would leave it (minus
    /// `max_num_bits` when the stream ends exactly), or `None` if `out` is too small.
    ///
    /// kafkaroo: replaces the per-symbol `HuffmanDecoder::next_state` loop, which reads bits ahead
    /// into a state. This peeks `max_num_bits` at the current position, decodes several symbols per
    /// bit-container refill and writes into a pre-sized slice.
    pub(crate) fn decode_stream(
        &self,
        br: &mut BitReaderReversed<'_>,
        out: &mut [u8],
    ) -> Option<(usize, isize)> {
        let max_bits = self.max_num_bits;
        let decode = &self.decode[..];
        if max_bits == 0 || decode.len() != 1 << max_bits {
            return None;
        }
        // After a refill at least 56 bits are buffered.
        let per_refill = 56 / max_bits as usize;
        let mut remaining = br.bits_remaining();
        let mut written = 0;
        while remaining > 0 {
            br.refill();
            for _ in 0..per_refill {
                // At most 7 + 56 bits consumed: `get_bits_fast`'s precondition.
                let entry = decode[br.peek_bits_fast(max_bits) as usize];
                *out.get_mut(written)? = entry.symbol;
                written += 1;
                // Every entry of a built table has 1..=max_bits bits; 0 would never end.
                let bits = entry.num_bits.max(1);
                br.consume(bits);
                remaining -= bits as isize;
                if remaining <= 0 {
                    break;
                }
            }
        }
        Some((written, remaining - max_bits as isize))
    }

    /// Create a new, empty table.
    pub fn new() -> HuffmanTable {
        HuffmanTable {
            decode: Vec::new(),

            weights: Vec::with_capacity(256),
            max_num_bits: 0,
            bits: Vec::with_capacity(256),
            bit_ranks: Vec::with_capacity(11),
            rank_indexes: Vec::with_capacity(11),
            fse_table: FSETable::new(255),
        }
    }

    /// Completely empty the table then repopulate as a replica
    /// of `other`.
    pub fn reinit_from(&mut self, other: &Self) {
        self.reset();
        self.decode.extend_from_slice(&other.decode);
        self.weights.extend_from_slice(&other.weights);
        self.max_num_bits = other.max_num_bits;
        self.bits.extend_from_slice(&other.bits);
        self.rank_indexes.extend_from_slice(&other.rank_indexes);
        self.fse_table.reinit_from(&other.fse_table);
    }

    /// Completely empty the table of all data.
    pub fn reset(&mut self) {
        self.decode.clear();
        self.weights.clear();
        self.max_num_bits = 0;
        self.bits.clear();
        self.bit_ranks.clear();
        self.rank_indexes.clear();
        self.fse_table.reset();
    }

    /// Read from `source` and decode the input, populating the huffman decoding table.
    ///
    /// Returns the number of bytes read.
    pub fn build_decoder(&mut self, source: &[u8]) -> Result<u32, HuffmanTableError> {
        self.decode.clear();

        let bytes_used = self.read_weights(source)?;
        self.build_table_from_weights()?;
        Ok(bytes_used)
    }

    /// Read weights from the provided source.
    ///
    /// The huffman table is represented in the input data as a list of weights.
    /// After the header, weights are read, then a Huffman decoding table
    /// can be constructed using that list of weights.
    ///
    /// Returns the number of bytes read.
    fn read_weights(&mut self, source: &[u8]) -> Result<u32, HuffmanTableError> {
        use HuffmanTableError as err;

        if source.is_empty() {
            return Err(err::SourceIsEmpty);
        }
        let header = source[0];
        let mut bits_read = 8;

        match header {
            // If the header byte is less than 128, the series of weights
            // is compressed using two interleaved FSE streams that share
            // a distribution table.
            0..=127 => {
                let fse_stream = &source[1..];
                if header as usize > fse_stream.len() {
                    return Err(err::NotEnoughBytesForWeights {
                        got_bytes: fse_stream.len(),
                        expected_bytes: header,
                    });
                }
                //fse decompress weights
                let bytes_used_by_fse_header = self.fse_table.build_decoder(fse_stream, 6)?;

                if bytes_used_by_fse_header > header as usize {
                    return Err(err::FSETableUsedTooManyBytes {
                        used: bytes_used_by_fse_header,
                        available_bytes: header,
                    });
                }

                vprintln!(
                    "Building fse table for huffman weights used: {}",
                    bytes_used_by_fse_header
                );
                // Huffman headers are compressed using two interleaved
                // FSE bitstreams, where the first state (decoder) handles
                // even symbols, and the second handles odd symbols.
                let mut dec1 = FSEDecoder::new(&self.fse_table);
                let mut dec2 = FSEDecoder::new(&self.fse_table);

                let compressed_start = bytes_used_by_fse_header;
                let compressed_length = header as usize - bytes_used_by_fse_header;

                let compressed_weights = &fse_stream[compressed_start..];
                if compressed_weights.len() < compressed_length {
                    return Err(err::NotEnoughBytesToDecompressWeights {
                        have: compressed_weights.len(),
                        need: compressed_length,
                    });
                }
                let compressed_weights = &compressed_weights[..compressed_length];
                let mut br = BitReaderReversed::new(compressed_weights);

                bits_read += (bytes_used_by_fse_header + compressed_length) * 8;

                //skip the 0 padding at the end of the last byte of the bit stream and throw away the first 1 found
                let mut skipped_bits = 0;
                loop {
                    let val = br.get_bits(1);
                    skipped_bits += 1;
                    if val == 1 || skipped_bits > 8 {
                        break;
                    }
                }
                if skipped_bits > 8 {
                    //if more than 7 bits are 0, this is not the correct end of the bitstream. Either a bug or corrupted data
                    return Err(err::ExtraPadding { skipped_bits });
                }

                dec1.init_state(&mut br)?;
                dec2.init_state(&mut br)?;

                self.weights.clear();

                // The two decoders take turns decoding a single symbol and updating their state.
                loop {
                    let w = dec1.decode_symbol();
                    self.weights.push(w);
                    dec1.update_state(&mut br);

                    if br.bits_remaining() <= -1 {
                        //collect final states
                        self.weights.push(dec2.decode_symbol());
                        break;
                    }

                    let w = dec2.decode_symbol();
                    self.weights.push(w);
                    dec2.update_state(&mut br);

                    if br.bits_remaining() <= -1 {
                        //collect final states
                        self.weights.push(dec1.decode_symbol());
                        break;
                    }
                    //maximum number of weights is 255 because we use u8 symbols and the last weight is inferred from the sum of all others
                    if self.weights.len() > 255 {
                        return Err(err::TooManyWeights {
                            got: self.weights.len(),
                        });
                    }
                }
                // kafkaroo: the final states can push the count past 255 after the check above.
                if self.weights.len() > 255 {
                    return Err(err::TooManyWeights {
                        got: self.weights.len(),
                    });
                }
            }
            // If the header byte is greater than or equal to 128,
            // weights are directly represented, where each weight is
            // encoded directly as a 4 bit field. The weights will
            // always be encoded with full bytes, meaning if there's
            // an odd number of weights, the last weight will still
            // occupy a full byte.
            _ => {
                // weights are directly encoded
                let weights_raw = &source[1..];
                let num_weights = header - 127;
                self.weights.resize(num_weights as usize, 0);

                let bytes_needed = if num_weights.is_multiple_of(2) {
                    num_weights as usize / 2
                } else {
                    (num_weights as usize / 2) + 1
                };

                if weights_raw.len() < bytes_needed {
                    return Err(err::NotEnoughBytesInSource {
                        got: weights_raw.len(),
                        need: bytes_needed,
                    });
                }

                for idx in 0..num_weights {
                    if idx % 2 == 0 {
                        self.weights[idx as usize] = weights_raw[idx as usize / 2] >> 4;
                    } else {
                        self.weights[idx as usize] = weights_raw[idx as usize / 2] & 0xF;
                    }
                    bits_read += 4;
                }
            }
        }

        let bytes_read = if bits_read % 8 == 0 {
            bits_read / 8
        } else {
            (bits_read / 8) + 1
        };
        Ok(bytes_read as u32)
    }

    /// Once the weights have been read from the data, you can decode the weights
    /// into a table, and use that table to decode the actual compressed data.
    ///
    /// This function populates the rest of the table from the series of weights.
    fn build_table_from_weights(&mut self) -> Result<(), HuffmanTableError> {
        use HuffmanTableError as err;

        self.bits.clear();
        self.bits.resize(self.weights.len() + 1, 0);

        let mut weight_sum: u32 = 0;
        for w in &self.weights {
            if *w > MAX_MAX_NUM_BITS {
                return Err(err::WeightBiggerThanMaxNumBits { got: *w });
            }
            weight_sum += if *w > 0 { 1_u32 << (*w - 1) } else { 0 };
        }

        if weight_sum == 0 {
            return Err(err::MissingWeights);
        }

        let max_bits = highest_bit_set(weight_sum) as u8;
        let left_over = (1 << max_bits) - weight_sum;

        //left_over must be power of two
        if !left_over.is_power_of_two() {
            return Err(err::LeftoverIsNotAPowerOf2 { got: left_over });
        }

        let last_weight = highest_bit_set(left_over) as u8;

        // kafkaroo: the longest codes (weight 1) come in pairs, so a valid tree has at least two
        // (RFC 8878 4.2.1.1: the prefix codes form a complete binary tree); libzstd refuses others.
        let weight_one =
            self.weights.iter().filter(|w| **w == 1).count() + usize::from(last_weight == 1);
        if weight_one < 2 {
            return Err(err::TooFewWeightOneSymbols { got: weight_one });
        }

        for symbol in 0..self.weights.len() {
            let bits = if self.weights[symbol] > 0 {
                max_bits + 1 - self.weights[symbol]
            } else {
                0
            };
            self.bits[symbol] = bits;
        }

        self.bits[self.weights.len()] = max_bits + 1 - last_weight;
        self.max_num_bits = max_bits;

        if max_bits > MAX_MAX_NUM_BITS {
            return Err(err::MaxBitsTooHigh { got: max_bits });
        }

        self.bit_ranks.clear();
        self.bit_ranks.resize((max_bits + 1) as usize, 0);
        for num_bits in &self.bits {
            self.bit_ranks[(*num_bits) as usize] += 1;
        }

        //fill with dummy symbols
        self.decode.resize(
            1 << self.max_num_bits,
            Entry {
                symbol: 0,
                num_bits: 0,
            },
        );

        //starting codes for each rank
        self.rank_indexes.clear();
        self.rank_indexes.resize((max_bits + 1) as usize, 0);

        self.rank_indexes[max_bits as usize] = 0;
        for bits in (1..self.rank_indexes.len() as u8).rev() {
            self.rank_indexes[bits as usize - 1] = self.rank_indexes[bits as usize]
                + self.bit_ranks[bits as usize] as usize * (1 << (max_bits - bits));
        }

        assert!(
            self.rank_indexes[0] == self.decode.len(),
            "rank_idx[0]: {} should be: {}",
            self.rank_indexes[0],
            self.decode.len()
        );

        for symbol in 0..self.bits.len() {
            let bits_for_symbol = self.bits[symbol];
            if bits_for_symbol != 0 {
                // allocate code for the symbol and set in the table
                // a code ignores all max_bits - bits[symbol] bits, so it gets
                // a range that spans all of those in the decoding table
                let base_idx = self.rank_indexes[bits_for_symbol as usize];
                let len = 1 << (max_bits - bits_for_symbol);
                self.rank_indexes[bits_for_symbol as usize] += len;
                for idx in 0..len {
                    self.decode[base_idx + idx].symbol = symbol as u8;
                    self.decode[base_idx + idx].num_bits = bits_for_symbol;
                }
            }
        }

        Ok(())
    }
}

impl Default for HuffmanTable {
    fn default() -> Self {
        Self::new()
    }
}

/// A single entry in the table contains the decoded symbol/literal and the
/// size of the prefix code.
#[derive(Copy, Clone, Debug)]
pub struct Entry {
    /// The byte that the prefix code replaces during encoding.
    symbol: u8,
    /// The number of bits the prefix code occupies.
    num_bits: u8,
}

/// Skips a reversed stream's zero padding and its closing 1 bit (RFC 8878 4.2.2: the last byte
/// holds the end mark, so it cannot be 0); an error if there are more than seven padding zeros.
pub(crate) fn skip_padding(br: &mut BitReaderReversed<'_>) -> Result<(), DecompressLiteralsError> {
    for _ in 0..8 {
        if br.get_bits(1) == 1 {
            return Ok(());
        }
    }
    Err(DecompressLiteralsError::ExtraPadding { skipped_bits: 9 })
}

/// A Huffman stream must end exactly: its last symbol uses its last bits (`read_til` as
/// `HuffmanTable::decode_stream` reports it). libzstd refuses streams with bits left over or
/// symbols completed with bits past the end.
pub(crate) fn check_stream_end(
    read_til: isize,
    max_bits: u8,
) -> Result<(), DecompressLiteralsError> {
    if read_til != -(max_bits as isize) {
        return Err(DecompressLiteralsError::BitstreamReadMismatch {
            read_til,
            expected: -(max_bits as isize),
        });
    }
    Ok(())
}

/// Assert that the provided value is greater than zero, and returns the
/// 32 - the number of leading zeros
fn highest_bit_set(x: u32) -> u32 {
    assert!(x > 0);
    u32::BITS - x.leading_zeros()
}

/// kafkaroo: the checks added for libzstd parity (vendor/README.md, item 7).
#[cfg(test)]
mod strict_tests {
    use super::*;

    /// A tree description with directly represented weights (header byte 127 + count).
    fn direct(weights: &[u8]) -> Vec<u8> {
        let mut d = alloc::vec![127 + weights.len() as u8];
        for pair in weights.chunks(2) {
            d.push(pair[0] << 4 | pair.get(1).copied().unwrap_or(0));
        }
        d
    }

    #[test]
    fn a_tree_needs_two_symbols_of_weight_one() {
        // Weights [1] + implied 1: two 1-bit codes.
        assert!(HuffmanTable::new().build_decoder(&direct(&[1])).is_ok());
        // Weights [2] + implied 2: complete, but no code of the maximum length; libzstd refuses it.
        let err = HuffmanTable::new()
            .build_decoder(&direct(&[2]))
            .unwrap_err();
        assert!(
            matches!(err, HuffmanTableError::TooFewWeightOneSymbols { got: 0 }),
            "{err:?}"
        );
    }

    /// Two symbols of weight 1 (the second implied): a 1-bit code, every bit one symbol.
    fn one_bit_table() -> HuffmanTable {
        let mut t = HuffmanTable::new();
        t.build_decoder(&direct(&[1])).unwrap();
        t
    }

    fn decode(
        table: &HuffmanTable,
        stream: &[u8],
        out: &mut [u8],
    ) -> Result<(), DecompressLiteralsError> {
        let mut br = BitReaderReversed::new(stream);
        skip_padding(&mut br)?;
        let (n, read_til) =
            table
                .decode_stream(&mut br, out)
                .ok_or(DecompressLiteralsError::StreamTooLong {
                    stream: 1,
                    literals: out.len(),
                })?;
        check_stream_end(read_til, table.max_num_bits)?;
        assert_eq!(n, out.len());
        Ok(())
    }

    #[test]
    fn a_stream_must_end_exactly() {
        let table = one_bit_table();
        // 0b0001_0110: padding, end mark, then 4 one-bit symbols.
        assert!(decode(&table, &[0b0001_0110], &mut [0; 4]).is_ok());
        assert!(matches!(
            decode(&table, &[0b0001_0110], &mut [0; 3]),
            Err(DecompressLiteralsError::StreamTooLong { .. })
        ));
        // Only padding: no symbols.
        assert!(decode(&table, &[0b0000_0001], &mut []).is_ok());
        assert!(decode(&table, &[0], &mut []).is_err());
    }

    #[test]
    fn four_streams_split_the_literals_in_quarters() {
        let table = one_bit_table();
        // 6 literals: segments of 2, 2, 2 and 0.
        let two = [0b0000_0110u8];
        let none = [0b0000_0001u8];
        let mut out = [0; 6];
        assert!(table
            .decode_4_streams([&two, &two, &two, &none], &mut out)
            .is_ok());
        // The same literals split 3, 1, 2, 0.
        let three = [0b0000_1110u8];
        let one = [0b0000_0010u8];
        assert!(table
            .decode_4_streams([&three, &one, &two, &none], &mut out)
            .is_err());
        // Fewer than 6 literals.
        let mut out = [0; 5];
        assert!(matches!(
            table.decode_4_streams([&two, &two, &one, &none], &mut out),
            Err(DecompressLiteralsError::TooFewLiteralsForFourStreams { got: 5 })
        ));
    }
}
