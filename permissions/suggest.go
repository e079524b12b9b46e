package permissions

import "strings"

// Suggest returns the known name closest to a misspelled one, when it is
// close enough to be what was meant (at most a third of its letters
// differ, and at most 3), or "". Case is ignored.
func Suggest(name string, known []string) string {
	best, bestD := "", 4
	n := strings.ToLower(name)
	for _, k := range known {
		d := editDistance(n, strings.ToLower(k))
		if d < bestD && d <= max(1, len(k)/3) {
			best, bestD = k, d
		}
	}
	return best
}

// DidYouMean is " (did you mean X?)" for Suggest's answer, or "".
func DidYouMean(name string, known []string) string {
	if s := Suggest(name, known); s != "" && s != name {
		return " (did you mean " + s + "?)"
	}
	return ""
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment) of two short strings: insertions, deletions, substitutions
// and swaps of neighbours each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
