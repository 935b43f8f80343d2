from semsearch.keywords import candidates, class_tfidf


def test_candidates_never_cross_stop_words_or_punctuation():
    text = "Wavelength services were hyped, but optical networks of the future carry data."
    phrases = set(candidates(text))
    assert {"wavelength services", "hyped", "optical networks", "future carry data"} <= phrases
    # KeyBERT's failure mode: phrases that never occur in the text.
    assert "services hyped" not in phrases and "hyped optical" not in phrases
    assert "networks future" not in phrases
    assert all(1 <= len(p.split()) <= 3 for p in phrases)
    for phrase in phrases:
        assert phrase in text.lower()


def test_candidates_count_occurrences():
    assert candidates("Neural networks. Neural networks!", max_words=2) == [
        "neural", "neural networks", "networks", "neural", "neural networks", "networks"]


def test_class_tfidf_labels_each_class_by_its_own_terms():
    classes = {
        0: ["the goalkeeper saved the penalty", "a late penalty won the football match"],
        1: ["the central bank raised interest rates", "interest rates and inflation"],
        2: ["football and interest both appear here"],
    }
    labels = class_tfidf(classes, top_n=3, max_words=1)
    assert labels[0][0][0] == "penalty"
    assert {"interest", "rates"} <= {term for term, _ in labels[1]}
    assert all(score > 0 for terms in labels.values() for _, score in terms)
