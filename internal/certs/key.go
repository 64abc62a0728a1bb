package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// errNoKey means the input holds no private key block.
var errNoKey = errors.New("no private key found")

// PublicKeyOf returns the public half of the first private key in PEM data (PKCS#8, PKCS#1 or
// SEC 1). Only the public key is returned so that callers never keep private material around.
func PublicKeyOf(data []byte) (crypto.PublicKey, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errNoKey
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: unsupported key type %T", block.Type, key)
		}
		return signer.Public(), nil
	}
}

// KeyMatches reports whether pub is the certificate's public key.
func KeyMatches(c *x509.Certificate, pub crypto.PublicKey) bool {
	k, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(c.PublicKey)
}
