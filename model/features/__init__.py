"""Frame features between the embedder and the classifier.

pca     PCA whitening and 8-bit quantisation exactly as YouTube-8M; the one `dequantize`
codec   the feature-file format (YouTube-8M SequenceExample layout, TFRecord framing)
"""
