"""Order of the examples in the gallery: from what the fingerprint is to training your own."""

ORDER = (
    "plot_fingerprints.py",
    "plot_classify_files.py",
    "plot_defect_robustness.py",
    "plot_bcc_to_sc.py",
    "plot_rhombohedral_path.py",
    "plot_amorphisation.py",
    "plot_thermal_motion.py",
    "plot_unknown_structures.py",
    "plot_attribution_maps.py",
    "plot_prototype_dataset.py",
    "plot_grid_search.py",
    "plot_train_own_classes.py",
)


class ExampleOrder:
    """sphinx-gallery sort key: the position in :data:`ORDER`, unknown files last by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (0, ORDER.index(filename), filename)
        return (1, 0, filename)

    def __repr__(self):
        return f"{type(self).__name__}()"
