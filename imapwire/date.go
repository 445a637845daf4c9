package imapwire

import (
	"strings"
	"time"
)

var monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// dateScanner walks a date's bytes.
type dateScanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *dateScanner) digits(min, max int) int {
	n, k := 0, 0
	for k < max && s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
		k++
	}
	if k < min {
		s.ok = false
	}
	return n
}

func (s *dateScanner) lit(c byte) {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return
	}
	s.ok = false
}

// dayMonthYear reads date-day "-" date-month "-" date-year.
func (s *dateScanner) dayMonthYear() (day int, month time.Month, year int) {
	day = s.digits(1, 2)
	s.lit('-')
	if s.i+3 <= len(s.b) {
		for k, m := range monthNames {
			if strings.EqualFold(m, string(s.b[s.i:s.i+3])) {
				month = time.Month(k + 1)
			}
		}
	}
	if month == 0 {
		s.ok = false
	}
	s.i += 3
	s.lit('-')
	year = s.digits(4, 4)
	return
}

// validDate says day/month/year name a real day (time.Date normalizes
// 31-Feb to March; refuse that).
func validDate(t time.Time, day int, month time.Month, year int) bool {
	return t.Day() == day && t.Month() == month && t.Year() == year
}

// searchDate reads a search date, quoted or not (RFC 9051 9, "date"); the
// result is midnight UTC of that day.
func (d *Decoder) searchDate() (time.Time, error) {
	quoted := d.peek() == '"'
	if quoted {
		d.pos++
	}
	s := dateScanner{b: d.line, i: d.pos, ok: true}
	day, month, year := s.dayMonthYear()
	if quoted {
		s.lit('"')
	}
	if !s.ok || day == 0 {
		return time.Time{}, badf("bad date")
	}
	t := time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
	if !validDate(t, day, month, year) {
		return time.Time{}, badf("bad date")
	}
	d.pos = s.i
	return t, nil
}

// dateTime reads an APPEND date-time: DQUOTE date-day-fixed "-"
// date-month "-" date-year SP time SP zone DQUOTE (RFC 9051 9), where
// date-day-fixed is two digits or a space and a digit.
func (d *Decoder) dateTime() (time.Time, error) {
	if err := d.expect('"'); err != nil {
		return time.Time{}, err
	}
	s := dateScanner{b: d.line, i: d.pos, ok: true}
	if s.i < len(s.b) && s.b[s.i] == ' ' {
		s.i++
	}
	day, month, year := s.dayMonthYear()
	s.lit(' ')
	hh := s.digits(2, 2)
	s.lit(':')
	mm := s.digits(2, 2)
	s.lit(':')
	ss := s.digits(2, 2)
	s.lit(' ')
	sign := 0
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '+':
			sign = 1
		case '-':
			sign = -1
		}
		s.i++
	}
	zone := s.digits(4, 4)
	s.lit('"')
	if !s.ok || sign == 0 || day == 0 || hh > 23 || mm > 59 || ss > 60 || zone%100 > 59 {
		return time.Time{}, badf("bad date-time")
	}
	off := sign * ((zone/100)*3600 + (zone%100)*60)
	loc := time.UTC
	if off != 0 {
		loc = time.FixedZone("", off)
	}
	t := time.Date(year, month, day, hh, mm, ss, 0, loc)
	if !validDate(t, day, month, year) {
		return time.Time{}, badf("bad date-time")
	}
	d.pos = s.i
	return t, nil
}
