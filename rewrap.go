package secretstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/secretstore/secretstore/backend"
)

// RewrapProgress reports how far Engine.Rewrap has got. Rewrap calls its
// Progress function after each secret, and returns the final counts.
type RewrapProgress struct {
	// Secrets is the number of secrets Rewrap found when it started, in
	// every region of the backend.
	Secrets int
	// SecretsDone is the number of those it has finished.
	SecretsDone int
	// Versions is the number of values (versions with a value) examined.
	Versions int
	// Rewrapped is the number of those whose data key was wrapped again;
	// the others already were under their key's primary version.
	Rewrapped int
}

// RewrapOptions are the options of Engine.Rewrap.
type RewrapOptions struct {
	// Progress, if not nil, is called after each secret with the counts so
	// far, from the goroutine that called Rewrap.
	Progress func(RewrapProgress)
}

// Rewrap wraps the data key of every version of every secret in the
// backend (in all regions, labelled or not, deleted-but-recoverable
// included) again under the primary version of the same key, so that
// older key versions can be retired (Keyring.RetireKeyVersion). Values are
// neither decrypted nor rewritten: the re-wrapped data keys go into the
// secrets' metadata, one compare-and-swap per secret, so concurrent writers
// lose nothing and an interruption leaves every secret either done or not.
//
// With Keys that implement VersionedKeys (Keyring), data keys already under
// the primary version are left alone, so a Rewrap that was interrupted (a
// crash, a cancelled context) is resumed by running it again, at the cost
// of reading what was done. With other Keys every data key is wrapped again
// each time, which also moves it to the newest key version of a KMS that
// versions keys itself.
//
// Rewrap stops at the first error, returning the counts so far.
func (e *Engine) Rewrap(ctx context.Context, opts *RewrapOptions) (RewrapProgress, error) {
	var p RewrapProgress
	keys, err := e.secretKeys(ctx)
	if err != nil {
		return p, fmt.Errorf("secretstore: Rewrap: %w", err)
	}
	p.Secrets = len(keys)
	primary := primaryVersions{keys: e.keys}
	for _, key := range keys {
		n, m, err := e.rewrapSecret(ctx, key, &primary)
		p.Versions += n
		p.Rewrapped += m
		if err != nil {
			return p, fmt.Errorf("secretstore: Rewrap: record %q: %w", key, err)
		}
		p.SecretsDone++
		if opts != nil && opts.Progress != nil {
			opts.Progress(p)
		}
	}
	return p, nil
}

// primaryVersions caches the primary version of each key for one Rewrap.
type primaryVersions struct {
	keys Keys
	m    map[string]uint32

	lastID string // the key of the last lookup, and its primary version
	lastN  uint32
}

// current reports whether w is wrapped under the primary version of its key.
func (pv *primaryVersions) current(ctx context.Context, w WrappedKey) (bool, error) {
	vk, ok := pv.keys.(VersionedKeys)
	if !ok {
		return false, nil
	}
	if pv.lastID != "" && w.KeyID == pv.lastID {
		return w.Version == pv.lastN, nil // most values of a store share a key
	}
	n, ok := pv.m[w.KeyID]
	if !ok {
		var err error
		if n, err = vk.PrimaryVersion(ctx, w.KeyID); err != nil {
			if errors.Is(err, ErrKeyNotFound) {
				return false, nil // written under other Keys: move it
			}
			return false, err
		}
		if pv.m == nil {
			pv.m = map[string]uint32{}
		}
		pv.m[w.KeyID] = n
	}
	pv.lastID, pv.lastN = w.KeyID, n
	return w.Version == n, nil
}

// secretKeys lists the record keys of every secret in the backend.
func (e *Engine) secretKeys(ctx context.Context) ([]string, error) {
	var keys []string
	for cursor := ""; ; {
		recs, err := e.b.ListRecords(ctx, "secret/", cursor, listBatch)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			keys = append(keys, r.Key)
		}
		if len(recs) < listBatch {
			return keys, nil
		}
		cursor = recs[len(recs)-1].Key
	}
}

// rewrapSecret rewraps the data keys of one secret's versions and returns
// how many values it examined and how many it rewrapped.
func (e *Engine) rewrapSecret(ctx context.Context, key string, primary *primaryVersions) (examined, rewrapped int, err error) {
	// Keys wrapped in an attempt that lost a race to another writer stay
	// good for the next: a value's data key never changes.
	var wrapped []*versionMeta // what the last attempt rewrapped
	var cause error            // the last key failure, which update would hide
	err = e.update(ctx, key, func(cur *cached) error {
		cause = nil
		examined, rewrapped = 0, 0
		if cur == nil {
			return nil // deleted meanwhile
		}
		var done map[string]*versionMeta // by blob key, on a retry only
		if len(wrapped) > 0 {
			done = make(map[string]*versionMeta, len(wrapped))
			for _, v := range wrapped {
				done[v.Blob] = v
			}
			wrapped = wrapped[:0]
		}
		s := cur.meta
		var versions []*versionMeta
		var aad []byte          // reused: Keys keep no aad
		var scratch [48]byte    // holds each data key in turn
		defer clear(scratch[:]) // and is cleared at the end
		for i, v := range s.Versions {
			if v.Kind == kindNone {
				continue
			}
			examined++
			nv := done[v.Blob]
			if nv != nil {
				nv = newVersionMeta(v.ID, v.Created, v.Kind, v.KeyID, v.Blob, v.LastAccessed, v.Seq, nv.wrap)
			} else {
				aad = appendAAD(aad[:0], s.ARN, v.ID, v.Kind)
				var err error
				if nv, err = e.rewrapVersion(ctx, v, aad, primary, &scratch); err != nil {
					cause = err
					return err
				}
			}
			if nv != nil {
				wrapped = append(wrapped, nv)
				if versions == nil {
					versions = slices.Clone(s.Versions)
				}
				versions[i] = nv
				rewrapped++
			}
		}
		if versions == nil {
			return nil
		}
		next := s.clone()
		next.Versions = versions
		return e.commit(ctx, key, cur, next)
	})
	if err != nil {
		rewrapped = 0
		if cause != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = cause
		}
	}
	return examined, rewrapped, err
}

// versionKey returns the wrapped data key of version v: the one Rewrap
// stored in the metadata, or else the one in the sealed value's header,
// with the sealed format's version.
func (e *Engine) versionKey(ctx context.Context, v *versionMeta) (WrappedKey, byte, error) {
	if v.wrap != nil {
		return *v.wrap, sealVersion2, nil
	}
	blob, err := e.b.GetBlob(ctx, v.Blob)
	if err != nil {
		return WrappedKey{}, 0, fmt.Errorf("version %s: %w", v.ID, err)
	}
	sv, err := parseSealed(blob)
	if err != nil {
		return WrappedKey{}, 0, fmt.Errorf("version %s: %w", v.ID, err)
	}
	return sv.key, sv.format, nil
}

// rewrapVersion wraps version v's data key (bound to aad) again under the
// primary version of its key, and returns the version carrying the new wrapped key in its
// metadata, or nil if the data key already is under the primary version.
func (e *Engine) rewrapVersion(ctx context.Context, v *versionMeta, aad []byte, primary *primaryVersions, scratch *[48]byte) (*versionMeta, error) {
	w, format, err := e.versionKey(ctx, v)
	if err != nil {
		return nil, err
	}
	if format == sealVersion2 {
		ok, err := primary.current(ctx, w)
		if err != nil || ok {
			return nil, err
		}
	}
	r := new(rewrappedVersion)
	nw, err := rewrapKey(ctx, e.keys, w, aad, scratch[:], r.buf[:0])
	if err != nil {
		return nil, fmt.Errorf("version %s, key %q version %d: %w", v.ID, w.KeyID, w.Version, err)
	}
	r.w = nw
	r.v = versionMeta{ID: v.ID, Created: v.Created, Kind: v.Kind, KeyID: v.KeyID, Blob: v.Blob,
		LastAccessed: v.LastAccessed, Seq: v.Seq, hash: v.hash, wrap: &r.w}
	n := 0
	if len(nw.Ciphertext) > 0 && &nw.Ciphertext[0] == &r.buf[0] {
		n = len(nw.Ciphertext) // the wrapped key is at the start of buf
	}
	encodeVersionTo(r.buf[n:n], &r.v)
	return &r.v, nil
}

// rewrappedVersion is a version whose data key Rewrap wrapped again, with
// room for the wrapped key and the entry's encoding: one allocation.
type rewrappedVersion struct {
	v   versionMeta
	w   WrappedKey
	buf [288]byte
}

// KeyVersionRef names one version of one key, as a sealed value records the
// key that wraps its data key.
type KeyVersionRef struct {
	KeyID   string
	Version uint32
}

// KeyUsage counts, for every key version, the values of all secrets in the
// backend (every region, every version) whose data key it wraps. It reads
// every value's header, so it costs a read per version.
func (e *Engine) KeyUsage(ctx context.Context) (map[KeyVersionRef]int, error) {
	keys, err := e.secretKeys(ctx)
	if err != nil {
		return nil, err
	}
	usage := map[KeyVersionRef]int{}
	for _, key := range keys {
		if err := e.countKeyUsage(ctx, key, usage); err != nil {
			return nil, fmt.Errorf("record %q: %w", key, err)
		}
	}
	return usage, nil
}

// countKeyUsage adds the key versions of one secret's values to usage.
func (e *Engine) countKeyUsage(ctx context.Context, key string, usage map[KeyVersionRef]int) error {
	for attempt := 0; ; attempt++ {
		cur, err := e.load(ctx, key)
		if err == errNoSecret {
			return nil
		}
		if err != nil {
			return err
		}
		refs, err := e.valueKeys(ctx, cur.meta)
		if errors.Is(err, backend.ErrNotFound) && attempt+1 < maxAttempts {
			// A writer replaced a value since the record was read.
			continue
		}
		if err != nil {
			return err
		}
		for _, r := range refs {
			usage[r]++
		}
		return nil
	}
}

// valueKeys returns the key version of each of s's values.
func (e *Engine) valueKeys(ctx context.Context, s *secretMeta) ([]KeyVersionRef, error) {
	var refs []KeyVersionRef
	for _, v := range s.Versions {
		if v.Kind == kindNone {
			continue
		}
		w, _, err := e.versionKey(ctx, v)
		if err != nil {
			return nil, err
		}
		refs = append(refs, KeyVersionRef{KeyID: w.KeyID, Version: w.Version})
	}
	return refs, nil
}
