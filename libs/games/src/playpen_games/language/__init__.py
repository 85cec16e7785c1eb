"""Language helpers shared by games and experts: WordNet access, English stopwords, a reverse dictionary."""
