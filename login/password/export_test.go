package password

// SetKDF replaces argon2id in h, so a test can watch how many run at once.
func SetKDF(h *Hasher, kdf func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte) {
	h.kdf = kdf
}
