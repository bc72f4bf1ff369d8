package testidp

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"slices"
)

// user is one entry of the directory.
type user struct {
	name     string
	password string
	subject  string
	groups   []string
}

// SetUser adds a user who signs in with username and password and belongs to groups, or
// replaces the password and groups of one already there. His subject is made at the first
// SetUser and never changes.
func (p *IdP) SetUser(username, password string, groups ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.users[username]
	if !ok {
		u = &user{name: username, subject: newUUID()}
		p.users[username] = u
	}
	u.password = password
	u.groups = slices.Clone(groups)
}

// SetGroups changes the groups of a user added with SetUser (it panics for any other).
// His tokens carry the new groups from his next sign-in.
func (p *IdP) SetGroups(username string, groups ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mustUser("SetGroups", username).groups = slices.Clone(groups)
}

// Subject returns the subject (sub claim) of a user added with SetUser, a random UUID;
// it panics for any other.
func (p *IdP) Subject(username string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mustUser("Subject", username).subject
}

func (p *IdP) mustUser(op, username string) *user {
	u, ok := p.users[username]
	if !ok {
		panic(fmt.Sprintf("testidp: %s(%q): no such user; add him with SetUser first", op, username))
	}
	return u
}

// authenticate returns the subject of the user whose username and password these are.
func (p *IdP) authenticate(username, password string) (subject string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, found := p.users[username]
	if !found || subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) != 1 {
		return "", false
	}
	return u.subject, true
}

// bySubject returns a copy of the user with this subject.
func (p *IdP) bySubject(subject string) (user, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.users {
		if u.subject == subject {
			c := *u
			c.groups = slices.Clone(u.groups)
			return c, true
		}
	}
	return user{}, false
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
