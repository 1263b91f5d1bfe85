package feedgen

// Names are plain text with no XML specials (checked by a test), so they are written unescaped.
// A few are non-ASCII so that every feed exercises UTF-8.
var givenNames = [...]string{
	"Ada", "Aksel", "Alma", "Amir", "Anna", "Ari", "Astrid", "Ben", "Camille", "Chloé",
	"Dag", "Eira", "Elias", "Emma", "Erik", "Fatima", "Filip", "Frida", "Hanna", "Håkon",
	"Ida", "Ingrid", "Isak", "Jakob", "Jonas", "Julie", "Kari", "Leah", "Liam", "Linnea",
	"Lucas", "Magnus", "Maja", "Mateo", "Mia", "Mohammed", "Nils", "Noah", "Nora", "Olav",
	"Oliver", "Oskar", "Sara", "Siri", "Sofie", "Søren", "Theo", "Thea", "Tobias", "Vilde",
	"Wiktoria", "Yusuf", "Zoë", "Åse",
}

var familyNames = [...]string{
	"Andersen", "Bakke", "Berg", "Brekke", "Dahl", "Eriksen", "Fossum", "Gundersen", "Haugen",
	"Hansen", "Holm", "Iversen", "Jensen", "Johansen", "Karlsen", "Kristiansen", "Larsen",
	"Lie", "Lund", "Moen", "Müller", "Nguyen", "Nilsen", "Olsen", "Pedersen", "Rasmussen",
	"Solberg", "Strand", "Sæther", "Tangen", "Vik", "Wang", "Ødegård", "Østby", "Aas",
	"Ahmed", "Kowalski", "Novak", "García", "Rossi",
}
