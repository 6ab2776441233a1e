"""The video classifier: NeXtVLAD (+ metadata branch) over frame features, multi-label sigmoid.

config      ModelConfig (YAML in configs/)         nextvlad   the Keras model; baseline: mean pooling
data        tf.data reader of feature TFRecords    metadata   upload metadata -> input vector
train       training with checkpoints              evaluate   metrics JSON, precision-coverage curve
calibrate   per-category thresholds                metrics    GAP, mAP, Hit@1, PERR, coverage
artifacts   the model directory's files            serving    load_classifier: scores and labels
handler     the RunInference handler               synthetic  seeded YouTube-8M-format data
"""
