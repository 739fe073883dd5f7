//! One feed staged on every core, with the outputs of one thread.
//!
//! The feed's own thread reads the file (copying and hashing it as it
//! goes) and cuts it where records end ([`read::Chunks`]: the CSV reader's
//! record-end state machine, so a quoted field with line breaks is never
//! split). Each chunk of whole records is a job for the run's pool: a
//! visitor of its own parses and checks every record and writes the rows
//! to the rules' partitions (in any order: the rules sort by key, time,
//! feed and line). Back on the feed's thread, the chunks' results are
//! taken strictly in file order: accepted rows go into the staged copy in
//! batches of exactly `batch_rows`, rejected records into the exceptions
//! file, line after line. A text feed's full batches are encoded into row
//! groups by pool jobs too (this thread, busy reading, was what the
//! workers waited for), and their row groups written here in order. So
//! the staged copy, the exceptions and every count are the same, byte for
//! byte, as when one thread does it all ([`super::stage_file`]).
//!
//! An NDJSON feed's header may be guessed from its first lines
//! ([`read::Chunks::guessed_header`]), so that its records need not wait
//! for a pass over the whole feed. Its rows then go to partitions of its
//! own. The names each chunk finds beyond the guess are taken in file
//! order ([`Guess`]): they give the whole feed's extra columns, and if one
//! changes the canonical columns' positions (or makes the header too
//! wide), the read stops, every job is waited for, and the feed is staged
//! again from the start with the whole feed's header, its own partitions
//! cleared.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_channel::{Receiver, Sender};

use super::feed::{FeedVisitor, feed_columns};
use super::partition::{PartitionWriter, Partitions};
use super::read::{self, At, Chunks, Visitor};
use super::rejects::{self, ExceptionFile};
use super::staged_copy::{Encoded, Encoder, StagedWriter};
use super::{Batch, Context, Sink, StagedFeed};
use crate::error::Problem;
use crate::model::{Reason, Rejection};
use crate::pipeline::{Source, SourceKind};
use crate::sys::pool::Pool;

/// Where a feed staged in chunks writes: its staged copy and exceptions
/// (in file order, from its own thread), and the rules' partitions (from
/// the chunks' workers).
pub(super) struct Outputs<'env> {
    pub staged: StagedWriter,
    pub rejected: ExceptionFile,
    pub partitions: &'env Partitions,
    /// The feed's number and provider, as the partitions record them.
    pub feed: u16,
    pub provider: u32,
    /// Whether a header guessed from the feed's first records may be
    /// taken ([`read::Chunks::guessed_header`]): the partitions are then
    /// the feed's own, to be cleared if the guess turns out wrong.
    pub guess: bool,
}

/// Stages one feed that can be read in chunks ([`read::in_chunks`]) with
/// the pool's threads. `None` when its header was guessed and the rest
/// of the feed changed what the guess meant (a column it maps, or too
/// many columns): the read was stopped, every job waited for, and the
/// feed must be staged again, its partitions cleared, without a guess.
pub(super) fn stage<'env>(
    source: &'env Source,
    input: read::Input<'_>,
    ctx: &'env Context<'env>,
    out: Outputs<'env>,
    pool: &Pool<'env>,
) -> Result<Option<StagedFeed>, Problem> {
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let mut driver = Driver {
        shared: Arc::new(Shared {
            source,
            ctx,
            partitions: out.partitions,
            feed: out.feed,
            provider: out.provider,
            header: OnceLock::new(),
            idle: Mutex::new(Vec::new()),
            spare_rows: Mutex::new(Vec::new()),
            progress: crate::sys::progress::rows(&source.id),
        }),
        pool,
        done_tx,
        done_rx,
        sent: 0,
        taken: 0,
        limit: 2 * pool.threads() as u64 + 2,
        waiting: BTreeMap::new(),
        spare: Vec::new(),
        in_order: InOrder {
            ctx,
            staged: out.staged,
            rejected: out.rejected,
            batch: Batch::with_capacity(source.kind, ctx.batch_rows),
            kind: source.kind,
            encoding: Encoding::new(pool.threads()),
        },
        error: None,
        may_guess: out.guess,
        guess: None,
    };
    let read = read::read_file_chunked(input, &source.dialect, &mut driver, ctx.chunk_bytes)
        .and_then(|file| driver.wait().map(|()| file));
    if driver.guess.as_ref().is_some_and(|g| g.wrong) {
        driver.drain();
        return Ok(None);
    }
    let file = read?;
    let mut staged = driver.finish()?;
    staged.file = Some(file);
    Ok(Some(staged))
}

/// A header guessed from the feed's first records, and what the chunks
/// taken since named beyond it.
struct Guess {
    /// The header the whole feed gives, as far as it was read: the
    /// guess, then each new name in the order first seen (chunks are
    /// taken in file order, each lists its new names in that order).
    names: Vec<String>,
    known: hashbrown::HashSet<String>,
    /// The canonical columns' positions in the guess.
    idx: Vec<Option<usize>>,
    /// A new name changed those positions, or made the header too wide.
    wrong: bool,
}

impl Guess {
    /// Takes a chunk's new names; `false` once the guess is wrong.
    fn learn(&mut self, source: &Source, names: Vec<String>) -> bool {
        let before = self.names.len();
        for n in names {
            if self.known.insert(n.clone()) {
                self.names.push(n);
            }
        }
        if self.names.len() > before {
            self.wrong = self.names.len() > read::MAX_COLUMNS
                || feed_columns(source, &self.names).map_or(true, |(idx, _)| idx != self.idx);
        }
        !self.wrong
    }
}

/// A piece of the feed, as its reader found it.
enum Piece {
    Records {
        body: Vec<u8>,
        at: At,
    },
    /// Rows of row groups of a Parquet file, read by the job itself.
    Groups {
        file: Arc<read::ParquetFile>,
        parts: Vec<read::GroupRows>,
        line: u64,
    },
    /// A record the reader found broken (longer than the cap).
    Broken {
        line: u64,
        raw: String,
        reason: Reason,
        detail: String,
    },
}

/// What parsing one piece gave.
struct Parsed {
    /// Names its records hold that the header lacks (a guessed one).
    names: Vec<String>,
    rows: Batch,
    /// Its rejected records, encoded.
    exceptions: Vec<u8>,
    /// The piece's text, for the reader to fill again.
    body: Option<Vec<u8>>,
}

/// A piece's sequence number and outcome (a panic in the job included).
type Done = (u64, std::thread::Result<Result<Parsed, Problem>>);

/// A chunk visitor's sink: its rows go to the partitions from the worker
/// ([`Shared::parse`]), its exceptions are kept for the feed's thread.
struct Collect<'env> {
    partitions: PartitionWriter<'env>,
    /// The piece's rejected records, as the feed's exception file holds
    /// them ([`rejects::encode`]).
    exceptions: Vec<u8>,
}

impl Sink for Collect<'_> {
    fn batch(&mut self, _: &Batch) -> Result<(), Problem> {
        // A chunk visitor never flushes: its rows are taken after each
        // chunk, in order.
        Err(Problem::Internal(
            "a chunk's rows were flushed out of order".into(),
        ))
    }

    fn exception(&mut self, e: &Rejection<'_>) -> Result<(), Problem> {
        rejects::encode(e, &mut self.exceptions).map_err(|error| Problem::Write {
            what: "the rejected rows",
            error,
        })
    }
}

type Worker<'env> = FeedVisitor<'env, Collect<'env>>;

/// What the feed's jobs share: the feed, its header, and the visitors
/// not at work (one per job running at once, kept with their caches).
struct Shared<'env> {
    source: &'env Source,
    ctx: &'env Context<'env>,
    partitions: &'env Partitions,
    feed: u16,
    provider: u32,
    header: OnceLock<Vec<String>>,
    idle: Mutex<Vec<Worker<'env>>>,
    /// Batches whose rows were taken, with their memory (a new one per
    /// chunk would grow, and be copied, again and again).
    spare_rows: Mutex<Vec<Batch>>,
    progress: indicatif::ProgressBar,
}

impl<'env> Shared<'env> {
    /// A new chunk visitor, given the header (whose problems fail the
    /// source).
    fn worker(&self) -> Result<Worker<'env>, Problem> {
        let collect = Collect {
            partitions: self.partitions.writer(self.feed, self.provider),
            exceptions: Vec::new(),
        };
        let mut w = FeedVisitor::for_chunks(self.source, self.ctx, collect, self.progress.clone());
        w.header(self.header.get().expect("the header comes first"))?;
        Ok(w)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Worker<'env>>> {
        self.idle.lock().expect("no poisoned visitors")
    }

    /// Parses one piece with an idle visitor (or a new one), and writes its
    /// rows to the partitions.
    fn parse(&self, piece: Piece) -> Result<Parsed, Problem> {
        let spare = self.idle().pop();
        let mut w = match spare {
            Some(w) => w,
            None => self.worker()?,
        };
        let (parsed, body) = match piece {
            Piece::Records { body, at } => {
                let header = self.header.get().map_or(&[][..], Vec::as_slice);
                let r = read::parse_chunk(&self.source.dialect, header, &body, at, &mut w);
                (r, Some(body))
            }
            Piece::Groups { file, parts, line } => {
                (file.visit(&parts, line, &mut w).map(|()| Vec::new()), None)
            }
            Piece::Broken {
                line,
                raw,
                reason,
                detail,
            } => {
                w.broken(line, &raw, reason, detail);
                (Ok(Vec::new()), None)
            }
        };
        let empty = self.spare_rows.lock().expect("no poisoned batches").pop();
        let rows = w.take_rows(empty.unwrap_or_default());
        let exceptions = std::mem::take(&mut w.sink().exceptions);
        let written = w.sink().partitions.add(&rows);
        self.idle().push(w);
        let names = parsed?;
        written.map_err(|error| Problem::Write {
            what: "the staged partitions",
            error,
        })?;
        Ok(Parsed {
            names,
            rows,
            exceptions,
            body,
        })
    }
}

/// The feed's own thread: hands pieces to the pool as the reader finds
/// them, and takes their results back in order.
struct Driver<'env, 'p> {
    shared: Arc<Shared<'env>>,
    pool: &'p Pool<'env>,
    done_tx: Sender<Done>,
    done_rx: Receiver<Done>,
    /// Pieces handed out, and taken back in order.
    sent: u64,
    taken: u64,
    /// The most pieces out at once (their text and rows are in memory).
    limit: u64,
    /// Results that came back before an earlier piece's.
    waiting: BTreeMap<u64, std::thread::Result<Result<Parsed, Problem>>>,
    /// Texts of pieces taken back, to be filled again.
    spare: Vec<Vec<u8>>,
    in_order: InOrder<'env>,
    /// A failure found where it could not be returned.
    error: Option<Problem>,
    /// Whether a guessed header may be taken ([`Outputs::guess`]).
    may_guess: bool,
    guess: Option<Guess>,
}

impl Driver<'_, '_> {
    fn send(&mut self, piece: Piece) -> Result<(), Problem> {
        while self.sent - self.taken >= self.limit {
            self.receive()?;
        }
        let seq = self.sent;
        self.sent += 1;
        let shared = Arc::clone(&self.shared);
        let done = self.done_tx.clone();
        self.pool.spawn(move || {
            let out = catch_unwind(AssertUnwindSafe(|| shared.parse(piece)));
            // The feed's thread is gone only if it failed already.
            let _ = done.send((seq, out));
        });
        Ok(())
    }

    /// Waits for one result; takes every result now next in order.
    fn receive(&mut self) -> Result<(), Problem> {
        let (seq, out) = self.done_rx.recv().expect("every piece reports");
        self.waiting.insert(seq, out);
        while let Some(out) = self.waiting.remove(&self.taken) {
            self.taken += 1;
            let mut parsed = match out {
                Ok(parsed) => parsed?,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            if !parsed.names.is_empty()
                && let Some(guess) = &mut self.guess
                && !guess.learn(self.shared.source, std::mem::take(&mut parsed.names))
            {
                // Stops the read; `stage` sees the guess was wrong.
                return Err(Problem::Internal("the guessed header was wrong".into()));
            }
            if let Some(body) = parsed.body.take() {
                self.spare.push(body);
            }
            let mut rows = self.in_order.take(parsed, self.pool)?;
            rows.clear();
            let mut spare = self.shared.spare_rows.lock().expect("no poisoned batches");
            if spare.len() < self.limit as usize {
                spare.push(rows);
            }
        }
        Ok(())
    }

    /// Waits for every piece, taking each in order.
    fn wait(&mut self) -> Result<(), Problem> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        while self.taken < self.sent {
            self.receive()?;
        }
        Ok(())
    }

    /// Waits for every piece still out, taking nothing: the feed's
    /// outputs are given up (its parse jobs write its partitions until
    /// then; its encoding jobs write nothing).
    fn drain(&mut self) {
        let out = self.sent - self.taken - self.waiting.len() as u64;
        for _ in 0..out {
            let _ = self.done_rx.recv();
        }
        self.shared.progress.finish_and_clear();
    }

    /// Closes the outputs of a feed whose pieces were all taken, and adds
    /// up what every visitor counted.
    fn finish(mut self) -> Result<StagedFeed, Problem> {
        self.shared.progress.finish_and_clear();
        self.in_order.flush()?;
        let InOrder {
            staged, rejected, ..
        } = self.in_order;
        staged.finish()?;
        rejected.finish().map_err(|error| Problem::Write {
            what: "the rejected rows",
            error,
        })?;
        let workers = std::mem::take(&mut *self.shared.idle());
        let shipments = self.shared.source.kind == SourceKind::Shipments;
        let mut total: Option<StagedFeed> = None;
        for w in workers {
            let (counts, collect) = w.into_parts();
            collect
                .partitions
                .finish(shipments)
                .map_err(|error| Problem::Write {
                    what: "the staged partitions",
                    error,
                })?;
            match &mut total {
                Some(t) => t.add(counts),
                None => total = Some(counts),
            }
        }
        // No header: the reader failed before any piece, and said why.
        let mut total =
            total.ok_or_else(|| Problem::Internal("a feed read without a header".into()))?;
        if let Some(guess) = &self.guess {
            // The positions are the guess's; the extra columns are the
            // whole feed's.
            total.extra_columns = feed_columns(self.shared.source, &guess.names)?.1;
        }
        Ok(total)
    }

    /// Sends a chunk's text to be parsed (an empty one is kept for later).
    fn hand_out(&mut self, text: Vec<u8>, at: At) -> Result<(), Problem> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if text.is_empty() {
            self.spare.push(text);
            return Ok(());
        }
        self.send(Piece::Records { body: text, at })
    }
}

impl Chunks for Driver<'_, '_> {
    fn guess_bytes(&self) -> Option<u64> {
        self.may_guess.then_some(self.shared.ctx.guess_bytes)
    }

    fn guessed_header(&mut self, names: &[String]) -> Result<bool, Problem> {
        // A guess that fails the header is not taken: the whole feed's
        // header says how (its problem is the one reported).
        let Ok((idx, _)) = feed_columns(self.shared.source, names) else {
            return Ok(false);
        };
        self.header(names)?;
        self.guess = Some(Guess {
            names: names.to_vec(),
            known: names.iter().cloned().collect(),
            idx,
            wrong: false,
        });
        Ok(true)
    }

    fn header(&mut self, names: &[String]) -> Result<(), Problem> {
        if self.shared.header.set(names.to_vec()).is_err() {
            return Err(Problem::Internal("a feed with two headers".into()));
        }
        let first = self.shared.worker()?;
        self.shared.idle().push(first);
        Ok(())
    }

    fn records(&mut self, body: &[u8], at: At) -> Result<(), Problem> {
        let mut text = self.spare.pop().unwrap_or_default();
        text.clear();
        text.extend_from_slice(body);
        self.hand_out(text, at)
    }

    fn records_owned(&mut self, body: &mut Vec<u8>, at: At) -> Result<(), Problem> {
        let room = body.capacity();
        let next = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(room));
        let text = std::mem::replace(body, next);
        body.clear();
        self.hand_out(text, at)
    }

    fn row_groups(
        &mut self,
        file: Arc<read::ParquetFile>,
        parts: Vec<read::GroupRows>,
        line: u64,
    ) -> Result<(), Problem> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        // The jobs read a Parquet feed themselves: this thread has time to
        // encode the staged copy, and the memory of batches out on the
        // pool is not worth it.
        self.in_order.encoding.on_pool = false;
        self.send(Piece::Groups { file, parts, line })
    }

    fn broken(&mut self, line: u64, raw: &str, reason: Reason, detail: String) {
        let piece = Piece::Broken {
            line,
            raw: raw.to_string(),
            reason,
            detail,
        };
        if let Err(e) = self.send(piece) {
            self.error.get_or_insert(e);
        }
    }
}

/// The feed's outputs that follow file order.
struct InOrder<'env> {
    ctx: &'env Context<'env>,
    staged: StagedWriter,
    rejected: ExceptionFile,
    /// Rows not yet written: fewer than a batch.
    batch: Batch,
    /// The feed's kind (a new batch has room for a batch of its rows).
    kind: SourceKind,
    encoding: Encoding,
}

/// Full batches of the staged copy out on the pool to be encoded; their
/// row groups are written here, in file order.
struct Encoding {
    idle: Arc<Mutex<Vec<Encoder>>>,
    done_tx: Sender<EncodedBatch>,
    done_rx: Receiver<EncodedBatch>,
    /// Batches sent, and written back in order.
    sent: u64,
    written: u64,
    /// The most batches out at once (each is about 6 MiB of rows, and
    /// its encoder's scratch: a text feed's peak grows by about 100 MiB
    /// at M, 40 MiB at L; fewer out at once and the feed's thread waits
    /// behind the parse jobs again).
    limit: u64,
    /// Batches are encoded on the pool (a text feed, whose reading and
    /// cutting keep this thread busy), or here.
    on_pool: bool,
    waiting: BTreeMap<u64, std::thread::Result<Result<Encoded, Problem>>>,
    /// Batches encoded, with their memory, to be filled again.
    spare: Vec<Batch>,
}

/// A batch's sequence number, its row group (or a panic), and the batch.
type EncodedBatch = (u64, std::thread::Result<Result<Encoded, Problem>>, Batch);

impl Encoding {
    fn new(threads: usize) -> Encoding {
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Encoding {
            idle: Arc::default(),
            done_tx,
            done_rx,
            sent: 0,
            written: 0,
            limit: threads as u64 + 1,
            on_pool: true,
            waiting: BTreeMap::new(),
            spare: Vec::new(),
        }
    }
}

impl<'env> InOrder<'env> {
    /// One piece's results, the next in file order; gives back its rows'
    /// batch.
    fn take(&mut self, parsed: Parsed, pool: &Pool<'env>) -> Result<Batch, Problem> {
        self.rejected
            .write_encoded(&parsed.exceptions)
            .map_err(|error| Problem::Write {
                what: "the rejected rows",
                error,
            })?;
        let rows = parsed.rows;
        for r in &rows.stock {
            self.batch.stock.push(*r);
            self.full(pool)?;
        }
        for r in &rows.shipments {
            let id = rows.shipment_id(r);
            let mut r = *r;
            r.id_start = self.batch.ids.len() as u32;
            self.batch.ids.push_str(id);
            self.batch.shipments.push(r);
            self.full(pool)?;
        }
        Ok(rows)
    }

    /// Sends the batch to be encoded once it has `batch_rows` rows, as one
    /// thread's visitor writes it.
    #[inline]
    fn full(&mut self, pool: &Pool<'env>) -> Result<(), Problem> {
        if self.batch.len() < self.ctx.batch_rows {
            return Ok(());
        }
        if !self.encoding.on_pool {
            self.staged.write(&self.batch, self.ctx)?;
            self.batch.clear();
            return Ok(());
        }
        let next = (self.encoding.spare.pop())
            .unwrap_or_else(|| Batch::with_capacity(self.kind, self.ctx.batch_rows));
        let batch = std::mem::replace(&mut self.batch, next);
        self.encode(batch, pool)
    }

    /// Encodes a full batch on the pool (an idle encoder, or a new one).
    fn encode(&mut self, batch: Batch, pool: &Pool<'env>) -> Result<(), Problem> {
        while self.encoding.sent - self.encoding.written >= self.encoding.limit {
            self.write_encoded()?;
        }
        let e = &mut self.encoding;
        let seq = e.sent;
        e.sent += 1;
        let spare = e.idle.lock().expect("no poisoned encoders").pop();
        let mut encoder = spare.unwrap_or_else(|| self.staged.encoder());
        let (idle, done, ctx) = (Arc::clone(&e.idle), e.done_tx.clone(), self.ctx);
        pool.spawn(move || {
            let out = catch_unwind(AssertUnwindSafe(|| encoder.encode(&batch, ctx)));
            if out.is_ok() {
                idle.lock().expect("no poisoned encoders").push(encoder);
            }
            // The feed's thread is gone only if it failed already.
            let _ = done.send((seq, out, batch));
        });
        Ok(())
    }

    /// Waits for one encoded batch; writes every row group now next in
    /// order.
    fn write_encoded(&mut self) -> Result<(), Problem> {
        let e = &mut self.encoding;
        let (seq, out, mut batch) = e.done_rx.recv().expect("every batch reports");
        batch.clear();
        if e.spare.len() < e.limit as usize {
            e.spare.push(batch);
        }
        e.waiting.insert(seq, out);
        while let Some(out) = e.waiting.remove(&e.written) {
            e.written += 1;
            let encoded = match out {
                Ok(encoded) => encoded?,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            self.staged.write_encoded(encoded)?;
        }
        Ok(())
    }

    /// Writes every batch out, then the last one (fewer than `batch_rows`
    /// rows).
    fn flush(&mut self) -> Result<(), Problem> {
        while self.encoding.written < self.encoding.sent {
            self.write_encoded()?;
        }
        if !self.batch.is_empty() {
            self.staged.write(&self.batch, self.ctx)?;
            self.batch.clear();
        }
        Ok(())
    }
}
