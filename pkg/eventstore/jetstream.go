package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/strata-edge/strata/pkg/natsutil"
)

// Headers that carry an event's fields in a JetStream message. They are data:
// renaming one makes stored events unreadable.
const (
	HeaderEventType   = "Strata-Event-Type"
	HeaderActor       = "Strata-Actor"
	HeaderRequestID   = "Strata-Request-Id"
	HeaderTime        = "Strata-Time" // RFC 3339 with nanoseconds, UTC
	HeaderCausationID = "Strata-Causation-Id"
	// The event ID travels as JetStream's own de-duplication ID.
	headerMsgID = jetstream.MsgIDHeader
)

// JetStream headers and error codes used by the adapter (nats-server 2.12+).
const (
	headerExpectedSubjSeq = jetstream.ExpectedLastSubjSeqHeader
	headerBatchID         = "Nats-Batch-Id"
	headerBatchSeq        = "Nats-Batch-Sequence"
	headerBatchCommit     = "Nats-Batch-Commit"

	errCodeWrongLastSeq         = 10071 // expected sequence mismatch
	errCodeWrongLastSeqConstant = 10164 // subject has an expected-sequence write in flight (clustered)
	errCodeDuplicateInFlight    = 10158 // same msg id is being stored right now (clustered)
	errCodeBatchDuplicate       = 10201 // a message of the batch has a known msg id
	errCodeBatchTooManyInflight = 10210 // too many open batches on the stream
)

// JetStreamOptions configures NewJetStream.
type JetStreamOptions struct {
	// Replicas of the events stream: 1 (default) embedded, 3 on a production
	// cluster.
	Replicas int
	// Duplicates is JetStream's de-duplication window: an Append with
	// AnyVersion retried within it is stored once. Default 10 minutes.
	// Retries with an expected version are recognised at any age.
	Duplicates time.Duration
}

// JetStreamStore keeps the log in one JetStream stream (natsutil.EventsStream,
// file storage, nothing ever deleted). A stream of the store is the subject
// natsutil.EventsSubjectPrefix + name; a Position is the JetStream stream
// sequence, gap-free because the stream denies delete and purge and has no
// limits. The payload is the message data and the metadata travels in
// headers, so the nats CLI can read the log.
//
// Concurrency uses Nats-Expected-Last-Subject-Sequence (the stream's version);
// several events go in one atomic batch (Nats-Batch-*), which the server
// checks and stores all at once or not at all.
type JetStreamStore struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	stream jetstream.Stream
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
}

// NewJetStream creates or updates the events stream and returns a store on it.
// The server must support atomic batch publish (nats-server 2.12 or newer).
func NewJetStream(ctx context.Context, js jetstream.JetStream, opts JetStreamOptions) (*JetStreamStore, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Replicas < 1 || opts.Replicas > 5 {
		return nil, fmt.Errorf("%w: JetStreamOptions.Replicas: %d, want 1 to 5", ErrInvalid, opts.Replicas)
	}
	if opts.Duplicates == 0 {
		opts.Duplicates = 10 * time.Minute
	}
	if opts.Duplicates < 0 {
		return nil, fmt.Errorf("%w: JetStreamOptions.Duplicates: %s is negative", ErrInvalid, opts.Duplicates)
	}
	cfg := jetstream.StreamConfig{
		Name:        natsutil.EventsStream,
		Description: "Strata event log: append-only, one subject per aggregate stream",
		Subjects:    []string{natsutil.EventsSubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		MaxAge:      0,
		MaxMsgSize:  -1,
		Discard:     jetstream.DiscardNew, // never drop old events, even if limits were set by hand
		Replicas:    opts.Replicas,
		Duplicates:  opts.Duplicates,
		DenyDelete:  true,
		DenyPurge:   true,
		// Direct get is much cheaper than the STREAM.MSG.GET API, but with
		// replicas any of them answers, possibly one that lags, and a writer
		// could miss its own write. With one replica there is no such one.
		AllowDirect:        opts.Replicas == 1,
		AllowAtomicPublish: true,
	}
	st, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("eventstore: create stream %s: %w", cfg.Name, err)
	}
	if !st.CachedInfo().Config.AllowAtomicPublish {
		return nil, fmt.Errorf("eventstore: stream %s: server does not support atomic batch publish (nats-server 2.12+ required)", cfg.Name)
	}
	sctx, cancel := context.WithCancel(context.Background())
	return &JetStreamStore{js: js, nc: js.Conn(), stream: st, ctx: sctx, cancel: cancel}, nil
}

// JetStream returns the JetStream context the store uses.
func (s *JetStreamStore) JetStream() jetstream.JetStream { return s.js }

func (s *JetStreamStore) checkOpen() error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}

func subjectOf(stream string) string { return natsutil.EventsSubjectPrefix + stream }

// Append implements Store.
func (s *JetStreamStore) Append(ctx context.Context, stream string, expected uint64, events ...Event) ([]Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	evs, err := Prepare(stream, events, time.Now())
	if err != nil {
		return nil, err
	}
	var ack *pubAckResponse
	if len(evs) == 1 {
		ack, err = s.publish(ctx, eventMsg(evs[0], expected))
	} else {
		ack, err = s.publishBatch(ctx, evs, expected)
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: append to %q: %w", stream, err)
	}
	if ack.Error != nil {
		switch ack.Error.ErrorCode {
		case errCodeWrongLastSeq, errCodeWrongLastSeqConstant, errCodeBatchDuplicate, errCodeDuplicateInFlight:
			// Either a stale writer or a retry of an append that was stored:
			// the server checks one or the other first depending on the path.
			return s.resolveRetry(ctx, stream, expected, evs, ack.Error)
		}
		return nil, fmt.Errorf("eventstore: append to %q: %w", stream, ack.Error)
	}
	if ack.Duplicate {
		// A single event whose ID is known: the ack names where it is.
		stored, err := s.loadSeq(ctx, ack.Sequence)
		if err != nil {
			return nil, fmt.Errorf("eventstore: append to %q: load duplicate: %w", stream, err)
		}
		if stored.Stream != stream {
			return nil, fmt.Errorf("eventstore: append to %q: event ID %q already used in stream %q at position %d: %w",
				stream, evs[0].ID, stored.Stream, stored.Position, ErrConflict)
		}
		return []Event{stored}, nil
	}
	// Events of one batch are stored contiguously, the commit (last) first
	// reported.
	first := ack.Sequence - uint64(len(evs)) + 1
	for i := range evs {
		evs[i].Position = first + uint64(i)
	}
	return evs, nil
}

// pubAckResponse is JetStream's publish acknowledgement.
type pubAckResponse struct {
	Error *jetstream.APIError `json:"error,omitempty"`
	jetstream.PubAck
	Batch string `json:"batch,omitempty"`
	Count int    `json:"count,omitempty"`
}

// publish sends m and waits for JetStream's answer.
func (s *JetStreamStore) publish(ctx context.Context, m *nats.Msg) (*pubAckResponse, error) {
	resp, err := s.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("no JetStream stream answers on %s: %w", m.Subject, err)
		}
		return nil, err
	}
	var ack pubAckResponse
	if len(resp.Data) == 0 {
		return &ack, nil // staged part of a batch
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return nil, fmt.Errorf("decode publish ack %q: %w", resp.Data, err)
	}
	return &ack, nil
}

// publishBatch stores evs as one JetStream atomic batch: the server stages
// messages 1..n-1 and, on the commit message, runs every consistency check
// (the expected sequence of the first message, the msg-id de-duplication of
// all) before storing the whole batch under one lock, or nothing.
func (s *JetStreamStore) publishBatch(ctx context.Context, evs []Event, expected uint64) (*pubAckResponse, error) {
	id := nuid.Next()
	n := len(evs)
	for i, e := range evs {
		// Only the first message may carry the expected subject sequence;
		// the server rejects it on later messages of the same subject.
		exp := AnyVersion
		if i == 0 {
			exp = expected
		}
		m := eventMsg(e, exp)
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		switch i {
		case n - 1:
			m.Header.Set(headerBatchCommit, "1")
			return s.publish(ctx, m)
		case 0:
			// The first message is acknowledged so that a refused batch (too
			// many open batches) fails here, with its reason.
			ack, err := s.openBatch(ctx, m)
			if err != nil || ack.Error != nil {
				return ack, err
			}
		default:
			// Later staged messages need no answer: a lost one makes the
			// commit fail as an incomplete batch.
			if err := s.nc.PublishMsg(m); err != nil {
				return nil, err
			}
		}
	}
	panic("unreachable")
}

// openBatch sends the first message of a batch, waiting and retrying while
// the stream has too many batches open (50 by default).
func (s *JetStreamStore) openBatch(ctx context.Context, m *nats.Msg) (*pubAckResponse, error) {
	for {
		ack, err := s.publish(ctx, m)
		if err != nil || ack.Error == nil || ack.Error.ErrorCode != errCodeBatchTooManyInflight {
			return ack, err
		}
		t := time.NewTimer(time.Duration(500+rand.IntN(2000)) * time.Microsecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// eventMsg encodes e as a message on its stream's subject.
func eventMsg(e Event, expected uint64) *nats.Msg {
	m := nats.NewMsg(subjectOf(e.Stream))
	m.Data = e.Data
	h := m.Header
	h.Set(headerMsgID, e.ID)
	h.Set(HeaderEventType, e.Type)
	h.Set(HeaderTime, e.Metadata.Time.Format(time.RFC3339Nano))
	if e.Metadata.Actor != "" {
		h.Set(HeaderActor, e.Metadata.Actor)
	}
	if e.Metadata.RequestID != "" {
		h.Set(HeaderRequestID, e.Metadata.RequestID)
	}
	if e.Metadata.CausationID != "" {
		h.Set(HeaderCausationID, e.Metadata.CausationID)
	}
	if expected != AnyVersion {
		h.Set(headerExpectedSubjSeq, strconv.FormatUint(expected, 10))
	}
	return m
}

// decodeEvent turns a stored message into an Event.
func decodeEvent(subject string, seq uint64, h nats.Header, data []byte, stored time.Time) (Event, error) {
	stream, ok := strings.CutPrefix(subject, natsutil.EventsSubjectPrefix)
	if !ok {
		return Event{}, fmt.Errorf("eventstore: message %d: subject %q outside %s>", seq, subject, natsutil.EventsSubjectPrefix)
	}
	e := Event{
		ID:       h.Get(headerMsgID),
		Stream:   stream,
		Type:     h.Get(HeaderEventType),
		Position: seq,
		Metadata: Metadata{
			Actor:       h.Get(HeaderActor),
			RequestID:   h.Get(HeaderRequestID),
			CausationID: h.Get(HeaderCausationID),
		},
	}
	if len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	if ts := h.Get(HeaderTime); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Event{}, fmt.Errorf("eventstore: message %d: header %s: %w", seq, HeaderTime, err)
		}
		e.Metadata.Time = t.UTC()
	} else {
		e.Metadata.Time = NormalizeTime(stored) // published by something else than Append
	}
	return e, nil
}

// loadSeq reads the event at one position.
func (s *JetStreamStore) loadSeq(ctx context.Context, seq uint64) (Event, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return Event{}, fmt.Errorf("get message %d: %w", seq, err)
	}
	return decodeEvent(m.Subject, m.Sequence, m.Header, m.Data, m.Time)
}

// resolveRetry decides, after the server refused an append for its version or
// for a known event ID, whether the append is a retry of one that was stored
// (then it returns the stored events) or a real conflict.
func (s *JetStreamStore) resolveRetry(ctx context.Context, stream string, expected uint64, evs []Event, cause *jetstream.APIError) ([]Event, error) {
	conflict := func(format string, args ...any) ([]Event, error) {
		return nil, fmt.Errorf("eventstore: append to %q at version %s: %s: %w",
			stream, versionString(expected), fmt.Sprintf(format, args...), ErrConflict)
	}
	var start uint64
	if expected != AnyVersion {
		// A stored append with this expected version sits right after it:
		// its first event is the stream's first message past expected.
		m, err := s.stream.GetMsg(ctx, expected+1, jetstream.WithGetMsgSubject(subjectOf(stream)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return conflict("%s", cause.Description)
		}
		if err != nil {
			return nil, fmt.Errorf("eventstore: append to %q: look up retry: %w", stream, err)
		}
		if m.Header.Get(headerMsgID) != evs[0].ID {
			if cause.ErrorCode == errCodeBatchDuplicate || cause.ErrorCode == errCodeDuplicateInFlight {
				return conflict("an event ID is already used by another append")
			}
			return conflict("%s", cause.Description)
		}
		start = m.Sequence
	} else {
		stored, err := s.ReadStream(ctx, stream, 0)
		if err != nil {
			return nil, fmt.Errorf("eventstore: append to %q: look up retry: %w", stream, err)
		}
		for _, e := range stored {
			if e.ID == evs[0].ID {
				start = e.Position
				break
			}
		}
		if start == 0 {
			return conflict("an event ID is already used by another stream or append")
		}
	}
	// A batch is stored contiguously: positions start .. start+n-1.
	out := make([]Event, len(evs))
	for i := range evs {
		e, err := s.loadSeq(ctx, start+uint64(i))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return conflict("only part of the event IDs are stored")
			}
			return nil, fmt.Errorf("eventstore: append to %q: look up retry: %w", stream, err)
		}
		if e.ID != evs[i].ID || e.Stream != stream {
			return conflict("event ID %q is stored, but not with the others of this append", evs[0].ID)
		}
		out[i] = e
	}
	return out, nil
}

func versionString(v uint64) string {
	if v == AnyVersion {
		return "any"
	}
	return strconv.FormatUint(v, 10)
}

// ReadStream implements Store.
func (s *JetStreamStore) ReadStream(ctx context.Context, stream string, after uint64) ([]Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := ValidateStreamName(stream); err != nil {
		return nil, err
	}
	last, err := s.stream.GetLastMsgForSubject(ctx, subjectOf(stream))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: read stream %q: %w", stream, err)
	}
	if last.Sequence <= after {
		return nil, nil
	}
	// Most aggregates are short: fetch them message by message (one request
	// each), and fall back to a consumer, whose set-up costs about as much as
	// a dozen gets, for long ones.
	var out []Event
	next := after + 1
	for i := 0; i < readStreamGets; i++ {
		m, err := s.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subjectOf(stream)))
		if err != nil {
			return nil, fmt.Errorf("eventstore: read stream %q: %w", stream, err)
		}
		e, err := decodeEvent(m.Subject, m.Sequence, m.Header, m.Data, m.Time)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if m.Sequence >= last.Sequence {
			return out, nil
		}
		next = m.Sequence + 1
	}
	err = s.scan(ctx, subjectOf(stream), next, last.Sequence, func(e Event) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: read stream %q: %w", stream, err)
	}
	return out, nil
}

// readStreamGets is how many events ReadStream fetches one by one before it
// switches to a consumer.
const readStreamGets = 32

// ReadAll implements Store.
func (s *JetStreamStore) ReadAll(ctx context.Context, after uint64, limit int) ([]Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	head, err := s.Head(ctx)
	if err != nil {
		return nil, err
	}
	if head <= after {
		return nil, nil
	}
	until := head
	if limit > 0 && uint64(limit) < head-after {
		until = after + uint64(limit)
	}
	out := make([]Event, 0, until-after)
	err = s.scan(ctx, "", after+1, until, func(e Event) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: read all after %d: %w", after, err)
	}
	return out, nil
}

// scan delivers the stored events from position from to until (both
// included, until must exist), optionally filtered by subject, using an
// ordered consumer that it deletes afterwards.
func (s *JetStreamStore) scan(ctx context.Context, filter string, from, until uint64, fn func(Event) error) error {
	cfg := jetstream.OrderedConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		InactiveThreshold: 30 * time.Second,
	}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	cons, err := s.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	batch := until - from + 1
	if batch > 500 {
		batch = 500
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(int(batch)))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer s.stopConsumer(it, cons)
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		e, err := decodeJSMsg(m)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		if e.Position >= until {
			return nil
		}
	}
}

// stopConsumer stops an iterator and deletes its ordered consumer instead of
// leaving it to expire on the server.
func (s *JetStreamStore) stopConsumer(it jetstream.MessagesContext, cons jetstream.Consumer) {
	it.Stop()
	if info := cons.CachedInfo(); info != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.js.DeleteConsumer(ctx, natsutil.EventsStream, info.Name)
	}
}

func decodeJSMsg(m jetstream.Msg) (Event, error) {
	md, err := m.Metadata()
	if err != nil {
		return Event{}, fmt.Errorf("message metadata: %w", err)
	}
	return decodeEvent(m.Subject(), md.Sequence.Stream, m.Headers(), m.Data(), md.Timestamp)
}

// Subscribe implements Store with an ordered consumer: the client checks
// every delivery's sequence and recreates the consumer after the last seen
// message when anything went missing (server restart, consumer deleted,
// reconnect), so handle sees each position once, in order.
func (s *JetStreamStore) Subscribe(ctx context.Context, after uint64, handle func(Event) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	defer stopOnClose()

	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   after + 1,
	})
	if err != nil {
		return fmt.Errorf("eventstore: subscribe after %d: create consumer: %w", after, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("eventstore: subscribe after %d: %w", after, err)
	}
	defer s.stopConsumer(it, cons)
	last := after
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("eventstore: subscribe after %d: %w", last, err)
		}
		e, err := decodeJSMsg(m)
		if err != nil {
			return err
		}
		if e.Position <= last {
			continue // never repeat
		}
		if e.Position != last+1 {
			return fmt.Errorf("eventstore: subscribe: gap after position %d (got %d)", last, e.Position)
		}
		if err := handle(e); err != nil {
			return err
		}
		last = e.Position
	}
}

// Head implements Store: the stream's last sequence.
func (s *JetStreamStore) Head(ctx context.Context) (uint64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("eventstore: head: %w", err)
	}
	return info.State.LastSeq, nil
}

// Close ends running subscriptions (they return ErrClosed) and makes later
// calls fail with ErrClosed. The NATS connection stays open.
func (s *JetStreamStore) Close() error {
	s.cancel()
	return nil
}

var _ Store = (*JetStreamStore)(nil)
