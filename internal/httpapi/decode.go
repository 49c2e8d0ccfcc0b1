package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
)

// MaxBodyBytes is the largest request body the API reads.
const MaxBodyBytes = 1 << 20

var errDecode = errors.New("bad request body")

// decode reads exactly one JSON value from r into v: unknown fields and
// trailing data are errors, and so is a body over MaxBodyBytes.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type %q: send application/json", errDecode, ct)
	}
	return decodeReader(http.MaxBytesReader(w, r.Body, MaxBodyBytes), v)
}

// decodeReader is decode without the HTTP plumbing (and what the fuzz
// targets drive). Beyond encoding/json's own checks it refuses invalid
// UTF-8, duplicate keys and keys that match a field only when case is
// ignored.
func decodeReader(body io.Reader, v any) error {
	b, err := io.ReadAll(body)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: the body did not arrive within the server's read timeout; send it at once", errDecode)
	}
	if err != nil {
		return err
	}
	if err := decodeBytes(b, v); err != nil {
		return err
	}
	return checkNames(b, reflect.TypeOf(v))
}

func decodeBytes(b []byte, v any) error {
	if err := checkUTF8(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxBytes *http.MaxBytesError
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxBytes), errors.As(err, &syntax), errors.As(err, &typ):
			return err
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: the body is empty; send a JSON object", errDecode)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: the body is not valid JSON: it ends in the middle of a value", errDecode)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return fmt.Errorf("%w: %s; check the spelling against the API document", errDecode, strings.TrimPrefix(err.Error(), "json: "))
		}
		return fmt.Errorf("%w: %v", errDecode, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return err
		}
		return fmt.Errorf("%w: trailing data after the JSON value", errDecode)
	}
	return nil
}
