// An independent check of MCP Approver's signed log with the Go reference implementation of C2SP signed notes
// and RFC 6962 tree hashing (golang.org/x/mod/sumdb/note and sumdb/tlog, from Debian's golang-golang-x-mod-dev).
//
//	verify_checkpoint VKEY NOTE_FILE LOG_FILE
//
// Opens the signed checkpoint with the verifier key, recomputes the tree head from the log's entries (the exact
// bytes of each line's "e" value) and prints "ok SIZE" when the two agree. Anything else exits non-zero.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type storedHashes []tlog.Hash

func (s storedHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, index := range indexes {
		if index >= int64(len(s)) {
			return nil, fmt.Errorf("hash %d not stored", index)
		}
		out[i] = s[index]
	}
	return out, nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: verify_checkpoint VKEY NOTE_FILE LOG_FILE")
	}
	verifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fail("bad vkey: %v", err)
	}
	message, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	opened, err := note.Open(message, note.VerifierList(verifier))
	if err != nil {
		fail("note does not verify: %v", err)
	}
	lines := strings.Split(opened.Text, "\n")
	if len(lines) < 4 {
		fail("not a checkpoint: %q", opened.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("bad size: %v", err)
	}
	log, err := os.Open(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	scanner := bufio.NewScanner(log)
	scanner.Buffer(make([]byte, 1<<20), 1<<30)
	var hashes storedHashes
	var count int64
	for count < size && scanner.Scan() {
		var line struct {
			E json.RawMessage `json:"e"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			fail("line %d: %v", count+1, err)
		}
		stored, err := tlog.StoredHashes(count, line.E, hashes)
		if err != nil {
			fail("%v", err)
		}
		hashes = append(hashes, stored...)
		count++
	}
	if count != size {
		fail("the log has %d entries, the checkpoint %d", count, size)
	}
	root, err := tlog.TreeHash(size, hashes)
	if err != nil {
		fail("%v", err)
	}
	if base64.StdEncoding.EncodeToString(root[:]) != lines[2] {
		fail("root mismatch: log %s, checkpoint %s", base64.StdEncoding.EncodeToString(root[:]), lines[2])
	}
	fmt.Printf("ok %d\n", size)
}
