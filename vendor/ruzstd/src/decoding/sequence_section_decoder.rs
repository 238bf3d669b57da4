use super::super::blocks::sequence_section::ModeType;
use super::super::blocks::sequence_section::SequencesHeader;
use super::decode_buffer::DecodeBuffer;
use super::scratch::FSEScratch;
use super::sequence_execution::do_offset_history;
use crate::bit_io::BitReaderReversed;
use crate::blocks::sequence_section::{
    MAX_LITERAL_LENGTH_CODE, MAX_MATCH_LENGTH_CODE, MAX_OFFSET_CODE,
};
use crate::decoding::errors::{
    DecodeSequenceError, DecompressBlockError, ExecuteSequencesError, FSEDecoderError,
};
use crate::fse::{Entry, FSETable};
#[cfg(test)]
use alloc::vec::Vec;

/// Decodes the sequences section in `source` and executes each sequence as soon as it is decoded:
/// `literals` and matches from the history go straight into `buffer`, followed by the literals no sequence used.
///
/// kafkaroo: replaces upstream's two passes (decode every sequence into a `Vec<Sequence>`, then
/// execute them), with the three FSE states held in locals, two bit-container refills per
/// sequence, and RLE modes as one-entry tables instead of a separate loop.
pub fn decode_and_execute_sequences(
    section: &SequencesHeader,
    source: &[u8],
    fse: &mut FSEScratch,
    buffer: &mut DecodeBuffer,
    offset_hist: &mut [u32; 3],
    literals: &[u8],
    max_block_decoded_len: usize,
) -> Result<(), DecompressBlockError> {
    let bytes_read = maybe_update_fse_tables(section, source, fse)?;

    vprintln!("Updating tables used {} bytes", bytes_read);

    let bit_stream = &source[bytes_read..];

    let mut br = BitReaderReversed::new(bit_stream);

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
        return Err(DecodeSequenceError::ExtraPadding { skipped_bits }.into());
    }

    let (ll_rle, ml_rle, of_rle) = (
        rle_entry(fse.ll_rle),
        rle_entry(fse.ml_rle),
        rle_entry(fse.of_rle),
    );
    let mut ll_dec = StateDecoder::new(&fse.literal_lengths, ll_rle.as_ref());
    let mut ml_dec = StateDecoder::new(&fse.match_lengths, ml_rle.as_ref());
    let mut of_dec = StateDecoder::new(&fse.offsets, of_rle.as_ref());
    // The format's order: literal lengths, offsets, match lengths.
    ll_dec
        .init_state(&mut br)
        .map_err(DecodeSequenceError::from)?;
    of_dec
        .init_state(&mut br)
        .map_err(DecodeSequenceError::from)?;
    ml_dec
        .init_state(&mut br)
        .map_err(DecodeSequenceError::from)?;

    // Most bits the three state updates can read; every entry's `num_bits <= accuracy_log`.
    let state_bits = ll_dec.accuracy_log + ml_dec.accuracy_log + of_dec.accuracy_log;
    br.refill();

    // Every sequence is checked against the block limit before it runs, so this covers them.
    buffer.reserve(max_block_decoded_len);

    let mut literals_used = 0usize;
    let mut produced = 0usize;
    let num_sequences = section.num_sequences;

    for seq_idx in 0..num_sequences {
        let ll_code = ll_dec.symbol();
        let ml_code = ml_dec.symbol();
        let of_code = of_dec.symbol();

        let (ll_value, ll_num_bits) = lookup_ll_code(ll_code);
        let (ml_value, ml_num_bits) = lookup_ml_code(ml_code);

        if of_code > MAX_OFFSET_CODE {
            return Err(DecodeSequenceError::UnsupportedOffset {
                offset_code: of_code,
            }
            .into());
        }

        // The container holds at least 56 unread bits here (refilled at the end of the previous
        // iteration): at most 31 + 16 + 16 extra bits, rarely more than 56.
        let (obits, ml_add, ll_add) = if of_code + ml_num_bits + ll_num_bits <= 56 {
            (
                br.get_bits_fast(of_code),
                br.get_bits_fast(ml_num_bits),
                br.get_bits_fast(ll_num_bits),
            )
        } else {
            (
                br.get_bits(of_code),
                br.get_bits(ml_num_bits),
                br.get_bits(ll_num_bits),
            )
        };
        // Never zero: `1 << of_code` is at least 1 and `obits < 1 << of_code`.
        let offset = obits as u32 + (1u32 << of_code);
        let lit_len = (ll_value + ll_add as u32) as usize;
        let match_len = (ml_value + ml_add as u32) as usize;

        if seq_idx + 1 < num_sequences {
            // At most 9 + 9 + 8 state bits: refill first only if they might not all be buffered.
            if br.bits_consumed() + state_bits > 63 {
                br.refill();
            }
            ll_dec.update_state_refilled(&mut br);
            ml_dec.update_state_refilled(&mut br);
            of_dec.update_state_refilled(&mut br);
        }
        br.refill();

        produced += lit_len + match_len;
        if produced > max_block_decoded_len {
            return Err(ExecuteSequencesError::TooManyBytesGenerated {
                max: max_block_decoded_len,
                decoded: produced,
            }
            .into());
        }

        if lit_len > 0 {
            let high = literals_used + lit_len;
            if high > literals.len() {
                return Err(ExecuteSequencesError::NotEnoughBytesForSequence {
                    wanted: high,
                    have: literals.len(),
                }
                .into());
            }
            buffer.push_literals_reserved(literals, literals_used, lit_len);
            literals_used = high;
        }

        let actual_offset = do_offset_history(offset, lit_len as u32, offset_hist);
        if actual_offset == 0 {
            return Err(ExecuteSequencesError::ZeroOffset.into());
        }
        if match_len > 0 {
            buffer
                .repeat_reserved(actual_offset as usize, match_len)
                .map_err(ExecuteSequencesError::from)?;
        }
    }

    // Consumption only lowers the count, so a stream that ran short mid-way is still short
    // here; checking once per block instead of per sequence (the sequences decoded from the
    // zero fill past the end stay within the block's size and offset checks).
    if br.bits_remaining() < 0 {
        return Err(DecodeSequenceError::NotEnoughBytesForNumSequences.into());
    }
    if br.bits_remaining() > 0 {
        return Err(DecodeSequenceError::ExtraBits {
            bits_remaining: br.bits_remaining(),
        }
        .into());
    }

    if literals_used < literals.len() {
        // kafkaroo: the literals after the last sequence count towards the block's size too.
        produced += literals.len() - literals_used;
        if produced > max_block_decoded_len {
            return Err(ExecuteSequencesError::TooManyBytesGenerated {
                max: max_block_decoded_len,
                decoded: produced,
            }
            .into());
        }
        buffer.push(&literals[literals_used..]);
    }
    Ok(())
}

/// The one-entry table standing in for an RLE-mode symbol.
fn rle_entry(rle: Option<u8>) -> Option<[Entry; 1]> {
    rle.map(|symbol| {
        [Entry {
            base_line: 0,
            num_bits: 0,
            symbol,
        }]
    })
}

/// One FSE state of the sequence decoder, over a table or an RLE symbol.
struct StateDecoder<'t> {
    table: &'t [Entry],
    accuracy_log: u8,
    is_rle: bool,
    state: Entry,
}

impl<'t> StateDecoder<'t> {
    fn new(table: &'t FSETable, rle: Option<&'t [Entry; 1]>) -> Self {
        let (table, accuracy_log) = match rle {
            Some(entry) => (&entry[..], 0),
            None => (&table.decode[..], table.accuracy_log),
        };
        Self {
            table,
            accuracy_log,
            is_rle: rle.is_some(),
            state: table.first().copied().unwrap_or(Entry {
                base_line: 0,
                num_bits: 0,
                symbol: 0,
            }),
        }
    }

    fn init_state(&mut self, br: &mut BitReaderReversed<'_>) -> Result<(), FSEDecoderError> {
        if self.is_rle {
            return Ok(());
        }
        if self.accuracy_log == 0 {
            return Err(FSEDecoderError::TableIsUninitialized);
        }
        let new_state = br.get_bits(self.accuracy_log);
        self.state = self.table[new_state as usize];
        Ok(())
    }

    #[inline(always)]
    fn symbol(&self) -> u8 {
        self.state.symbol
    }

    /// Needs `state.num_bits` bits in the container (see `get_bits_fast`).
    #[inline(always)]
    fn update_state_refilled(&mut self, br: &mut BitReaderReversed<'_>) {
        let add = br.get_bits_fast(self.state.num_bits);
        self.state = self.table[(self.state.base_line + add as u32) as usize];
    }
}

/// Look up the provided state value from a literal length table predefined
/// by the Zstandard reference document. Returns a tuple of (value, number of bits).
///
/// <https://github.com/facebook/zstd/blob/dev/doc/zstd_compression_format.md#appendix-a---decoding-tables-for-predefined-codes>
#[inline(always)]
fn lookup_ll_code(code: u8) -> (u32, u8) {
    match code {
        0..=15 => (u32::from(code), 0),
        16 => (16, 1),
        17 => (18, 1),
        18 => (20, 1),
        19 => (22, 1),
        20 => (24, 2),
        21 => (28, 2),
        22 => (32, 3),
        23 => (40, 3),
        24 => (48, 4),
        25 => (64, 6),
        26 => (128, 7),
        27 => (256, 8),
        28 => (512, 9),
        29 => (1024, 10),
        30 => (2048, 11),
        31 => (4096, 12),
        32 => (8192, 13),
        33 => (16384, 14),
        34 => (32768, 15),
        35 => (65536, 16),
        _ => unreachable!("Illegal literal length code was: {}", code),
    }
}

/// Look up the provided state value from a match length table predefined
/// by the Zstandard reference document. Returns a tuple of (value, number of bits).
///
/// <https://github.com/facebook/zstd/blob/dev/doc/zstd_compression_format.md#appendix-a---decoding-tables-for-predefined-codes>
#[inline(always)]
fn lookup_ml_code(code: u8) -> (u32, u8) {
    match code {
        0..=31 => (u32::from(code) + 3, 0),
        32 => (35, 1),
        33 => (37, 1),
        34 => (39, 1),
        35 => (41, 1),
        36 => (43, 2),
        37 => (47, 2),
        38 => (51, 3),
        39 => (59, 3),
        40 => (67, 4),
        41 => (83, 4),
        42 => (99, 5),
        43 => (131, 7),
        44 => (259, 8),
        45 => (515, 9),
        46 => (1027, 10),
        47 => (2051, 11),
        48 => (4099, 12),
        49 => (8195, 13),
        50 => (16387, 14),
        51 => (32771, 15),
        52 => (65539, 16),
        _ => unreachable!("Illegal match length code was: {}", code),
    }
}

// This info is buried in the symbol compression mode table
/// "The maximum allowed accuracy log for literals length and match length tables is 9"
pub const LL_MAX_LOG: u8 = 9;
/// "The maximum allowed accuracy log for literals length and match length tables is 9"
pub const ML_MAX_LOG: u8 = 9;
/// "The maximum accuracy log for the offset table is 8."
pub const OF_MAX_LOG: u8 = 8;

fn maybe_update_fse_tables(
    section: &SequencesHeader,
    source: &[u8],
    scratch: &mut FSEScratch,
) -> Result<usize, DecodeSequenceError> {
    let modes = section
        .modes
        .ok_or(DecodeSequenceError::MissingCompressionMode)?;

    let mut bytes_read = 0;

    match modes.ll_mode() {
        ModeType::FSECompressed => {
            scratch.ll_predefined = false;
            let bytes = scratch.literal_lengths.build_decoder(source, LL_MAX_LOG)?;
            bytes_read += bytes;

            vprintln!("Updating ll table");
            vprintln!("Used bytes: {}", bytes);
            scratch.ll_rle = None;
        }
        ModeType::RLE => {
            vprintln!("Use RLE ll table");
            if source.is_empty() {
                return Err(DecodeSequenceError::MissingByteForRleLlTable);
            }
            bytes_read += 1;
            if source[0] > MAX_LITERAL_LENGTH_CODE {
                return Err(DecodeSequenceError::MissingByteForRleMlTable);
            }
            scratch.ll_rle = Some(source[0]);
        }
        ModeType::Predefined => {
            vprintln!("Use predefined ll table");
            // kafkaroo: rebuilt only if another table replaced the predefined one.
            if !scratch.ll_predefined {
                scratch.literal_lengths.build_from_probabilities(
                    LL_DEFAULT_ACC_LOG,
                    &LITERALS_LENGTH_DEFAULT_DISTRIBUTION,
                )?;
                scratch.ll_predefined = true;
            }
            scratch.ll_rle = None;
        }
        ModeType::Repeat => {
            vprintln!("Repeat ll table");
            /* Nothing to do */
        }
    };

    let of_source = &source[bytes_read..];

    match modes.of_mode() {
        ModeType::FSECompressed => {
            scratch.of_predefined = false;
            let bytes = scratch.offsets.build_decoder(of_source, OF_MAX_LOG)?;
            vprintln!("Updating of table");
            vprintln!("Used bytes: {}", bytes);
            bytes_read += bytes;
            scratch.of_rle = None;
        }
        ModeType::RLE => {
            vprintln!("Use RLE of table");
            if of_source.is_empty() {
                return Err(DecodeSequenceError::MissingByteForRleOfTable);
            }
            bytes_read += 1;
            if of_source[0] > MAX_OFFSET_CODE {
                return Err(DecodeSequenceError::MissingByteForRleMlTable);
            }
            scratch.of_rle = Some(of_source[0]);
        }
        ModeType::Predefined => {
            vprintln!("Use predefined of table");
            // kafkaroo: rebuilt only if another table replaced the predefined one.
            if !scratch.of_predefined {
                scratch
                    .offsets
                    .build_from_probabilities(OF_DEFAULT_ACC_LOG, &OFFSET_DEFAULT_DISTRIBUTION)?;
                scratch.of_predefined = true;
            }
            scratch.of_rle = None;
        }
        ModeType::Repeat => {
            vprintln!("Repeat of table");
            /* Nothing to do */
        }
    };

    let ml_source = &source[bytes_read..];

    match modes.ml_mode() {
        ModeType::FSECompressed => {
            scratch.ml_predefined = false;
            let bytes = scratch.match_lengths.build_decoder(ml_source, ML_MAX_LOG)?;
            bytes_read += bytes;
            vprintln!("Updating ml table");
            vprintln!("Used bytes: {}", bytes);
            scratch.ml_rle = None;
        }
        ModeType::RLE => {
            vprintln!("Use RLE ml table");
            if ml_source.is_empty() {
                return Err(DecodeSequenceError::MissingByteForRleMlTable);
            }
            bytes_read += 1;
            if ml_source[0] > MAX_MATCH_LENGTH_CODE {
                return Err(DecodeSequenceError::MissingByteForRleMlTable);
            }
            scratch.ml_rle = Some(ml_source[0]);
        }
        ModeType::Predefined => {
            vprintln!("Use predefined ml table");
            // kafkaroo: rebuilt only if another table replaced the predefined one.
            if !scratch.ml_predefined {
                scratch.match_lengths.build_from_probabilities(
                    ML_DEFAULT_ACC_LOG,
                    &MATCH_LENGTH_DEFAULT_DISTRIBUTION,
                )?;
                scratch.ml_predefined = true;
            }
            scratch.ml_rle = None;
        }
        ModeType::Repeat => {
            vprintln!("Repeat ml table");
            /* Nothing to do */
        }
    };

    Ok(bytes_read)
}

// The default Literal Length decoding table uses an accuracy logarithm of 6 bits.
const LL_DEFAULT_ACC_LOG: u8 = 6;
/// If [ModeType::Predefined] is selected for a symbol type, its FSE decoding
/// table is generated using a predefined distribution table.
///
/// https://github.com/facebook/zstd/blob/dev/doc/zstd_compression_format.md#literals-length
const LITERALS_LENGTH_DEFAULT_DISTRIBUTION: [i32; 36] = [
    4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
    -1, -1, -1, -1,
];

// The default Match Length decoding table uses an accuracy logarithm of 6 bits.
const ML_DEFAULT_ACC_LOG: u8 = 6;
/// If [ModeType::Predefined] is selected for a symbol type, its FSE decoding
/// table is generated using a predefined distribution table.
///
/// https://github.com/facebook/zstd/blob/dev/doc/zstd_compression_format.md#match-length
const MATCH_LENGTH_DEFAULT_DISTRIBUTION: [i32; 53] = [
    1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1,
];

// The default Match Length decoding table uses an accuracy logarithm of 5 bits.
const OF_DEFAULT_ACC_LOG: u8 = 5;
/// If [ModeType::Predefined] is selected for a symbol type, its FSE decoding
/// table is generated using a predefined distribution table.
///
/// https://github.com/facebook/zstd/blob/dev/doc/zstd_compression_format.md#match-length
const OFFSET_DEFAULT_DISTRIBUTION: [i32; 29] = [
    1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1,
];

#[test]
fn test_ll_default() {
    let mut table = crate::fse::FSETable::new(MAX_LITERAL_LENGTH_CODE);
    table
        .build_from_probabilities(
            LL_DEFAULT_ACC_LOG,
            &Vec::from(&LITERALS_LENGTH_DEFAULT_DISTRIBUTION[..]),
        )
        .unwrap();

    #[cfg(feature = "std")]
    for idx in 0..table.decode.len() {
        std::println!(
            "{:3}: {:3} {:3} {:3}",
            idx,
            table.decode[idx].symbol,
            table.decode[idx].num_bits,
            table.decode[idx].base_line
        );
    }

    assert!(table.decode.len() == 64);

    //just test a few values. TODO test all values
    assert!(table.decode[0].symbol == 0);
    assert!(table.decode[0].num_bits == 4);
    assert!(table.decode[0].base_line == 0);

    assert!(table.decode[19].symbol == 27);
    assert!(table.decode[19].num_bits == 6);
    assert!(table.decode[19].base_line == 0);

    assert!(table.decode[39].symbol == 25);
    assert!(table.decode[39].num_bits == 4);
    assert!(table.decode[39].base_line == 16);

    assert!(table.decode[60].symbol == 35);
    assert!(table.decode[60].num_bits == 6);
    assert!(table.decode[60].base_line == 0);

    assert!(table.decode[59].symbol == 24);
    assert!(table.decode[59].num_bits == 5);
    assert!(table.decode[59].base_line == 32);
}
