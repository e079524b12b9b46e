package oauth2server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// A signingKey is one of the token service's keys. Keys live in Caddy's
// storage, so Caddy instances that share a storage share keys.
type signingKey struct {
	Kid     string    `json:"kid"`
	Alg     string    `json:"alg"`
	Private string    `json:"private_pkcs8_pem"`
	Created time.Time `json:"created"`
	// Retired is when a newer key took over; a retired key verifies (and
	// is published) until the tokens it signed have expired.
	Retired time.Time `json:"retired,omitzero"`

	signer crypto.Signer
}

// keyRing is the set of keys, the newest first; it is replaced whole.
// Its generation changes whenever its keys do, so that tokens verified
// under a key that has left the ring are verified again (keySource).
type keyRing struct {
	mu   sync.RWMutex
	keys []*signingKey
	gen  atomic.Uint64
}

// set replaces the keys, and counts a new generation when they differ.
func (kr *keyRing) set(keys []*signingKey) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	same := len(keys) == len(kr.keys)
	for i := 0; same && i < len(keys); i++ {
		same = keys[i].Kid == kr.keys[i].Kid
	}
	kr.keys = keys
	if !same {
		kr.gen.Add(1)
	}
}

// generation counts the ring's changes.
func (kr *keyRing) generation() uint64 { return kr.gen.Load() }

func (kr *keyRing) current() *signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	if len(kr.keys) == 0 {
		return nil
	}
	return kr.keys[0]
}

func (kr *keyRing) byKid(kid string) *signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.keys {
		if k.Kid == kid {
			return k
		}
	}
	return nil
}

func (kr *keyRing) all() []*signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return append([]*signingKey(nil), kr.keys...)
}

// newSigningKey makes a key for an algorithm (ES256 or EdDSA).
func newSigningKey(alg string) (*signingKey, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case "ES256":
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q (ES256 or EdDSA)", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &signingKey{
		Kid: base64.RawURLEncoding.EncodeToString(id), Alg: alg, Created: time.Now().UTC(),
		Private: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), signer: signer,
	}, nil
}

func (k *signingKey) parse() error {
	block, _ := pem.Decode([]byte(k.Private))
	if block == nil {
		return errors.New("no PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return errors.New("not a signing key")
	}
	k.signer = s
	return nil
}

// jwk is the key's public half as a JWK.
func (k *signingKey) jwk() map[string]string {
	out := map[string]string{"kid": k.Kid, "alg": k.Alg, "use": "sig"}
	switch pub := k.signer.Public().(type) {
	case *ecdsa.PublicKey:
		out["kty"], out["crv"] = "EC", "P-256"
		out["x"] = base64.RawURLEncoding.EncodeToString(pub.X.FillBytes(make([]byte, 32)))
		out["y"] = base64.RawURLEncoding.EncodeToString(pub.Y.FillBytes(make([]byte, 32)))
	case ed25519.PublicKey:
		out["kty"], out["crv"] = "OKP", "Ed25519"
		out["x"] = base64.RawURLEncoding.EncodeToString(pub)
	}
	return out
}

// storagePrefix is where an issuer's state lives in Caddy's storage.
func storagePrefix(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return "rest_auth/oauth2/" + hex.EncodeToString(sum[:8])
}

// loadKeys reads the key ring from storage as it is, changing nothing.
func loadKeys(ctx context.Context, st certmagic.Storage, prefix string) ([]*signingKey, error) {
	key := prefix + "/keys.json"
	data, err := st.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	var keys []*signingKey
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	for _, k := range keys {
		if err := k.parse(); err != nil {
			return nil, fmt.Errorf("%s: key %s: %w", key, k.Kid, err)
		}
	}
	return keys, nil
}

// syncKeys loads the key ring from storage and, under the storage lock,
// makes a first key, rotates an old one and drops keys whose tokens have
// all expired. Every instance sharing the storage converges on one ring.
func syncKeys(ctx context.Context, st certmagic.Storage, prefix, alg string, rotation, keep time.Duration) ([]*signingKey, error) {
	lock := prefix + "/keys"
	if err := st.Lock(ctx, lock); err != nil {
		return nil, fmt.Errorf("locking the key ring: %w", err)
	}
	defer func() { _ = st.Unlock(context.Background(), lock) }()
	key := prefix + "/keys.json"
	var keys []*signingKey
	data, err := st.Load(ctx, key)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &keys); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	now := time.Now().UTC()
	changed := false
	if len(keys) == 0 || keys[0].Alg != alg || now.Sub(keys[0].Created) >= rotation {
		k, err := newSigningKey(alg)
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			keys[0].Retired = now
		}
		keys = append([]*signingKey{k}, keys...)
		changed = true
	}
	kept := keys[:0]
	for i, k := range keys {
		if i > 0 && !k.Retired.IsZero() && now.Sub(k.Retired) > keep {
			changed = true
			continue
		}
		if k.signer == nil {
			if err := k.parse(); err != nil {
				return nil, fmt.Errorf("%s: key %s: %w", key, k.Kid, err)
			}
		}
		kept = append(kept, k)
	}
	keys = kept
	if changed {
		out, err := json.Marshal(keys)
		if err != nil {
			return nil, err
		}
		if err := st.Store(ctx, key, out); err != nil {
			return nil, fmt.Errorf("storing the key ring: %w", err)
		}
	}
	return keys, nil
}
